package dev.attune.spark;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.serializers.JavaSerializer;
import dev.attune.runtime.ScoredRow;
import dev.attune.runtime.inventory.DeviceEntry;
import dev.attune.runtime.inventory.ExecutorInventory;
import org.apache.spark.serializer.KryoRegistrator;

/**
 * Registers every class Attune may hand to Spark's serializer, so jobs run with
 * {@code spark.kryo.registrationRequired=true}:
 * {@code --conf spark.kryo.registrator=dev.attune.spark.AttuneKryoRegistrator}.
 * Records have no no-argument constructor, so they go through Java serialization inside Kryo.
 */
public final class AttuneKryoRegistrator implements KryoRegistrator {

    @Override
    public void registerClasses(Kryo kryo) {
        JavaSerializer java = new JavaSerializer();
        kryo.register(ExecutorInventory.class, java);
        kryo.register(DeviceEntry.class, java);
        kryo.register(ScoredRow.class, java);
        kryo.register(dev.attune.task.TaskKind.class);
        kryo.register(dev.attune.runtime.OnError.class);
        kryo.register(float[].class);
        kryo.register(float[][].class);
    }
}
