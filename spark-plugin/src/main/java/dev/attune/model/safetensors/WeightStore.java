package dev.attune.model.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.kernels.ops.WeightData;
import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The weights of one model directory: {@code model.safetensors}, or the shards listed by
 * {@code model.safetensors.index.json}.
 *
 * <p>Shard names come from a file a stranger may have written, so each one must be a plain file
 * name inside the model directory: no separators, no {@code ..}, no absolute path. Every shard is
 * validated by {@link SafetensorsFile#open} before use, and a tensor the index places in a shard
 * must be in that shard.
 *
 * <p>Threading: immutable; reads may run concurrently.
 */
public final class WeightStore {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path dir;
    private final Map<String, SafetensorsFile> byTensor;

    private WeightStore(Path dir, Map<String, SafetensorsFile> byTensor) {
        this.dir = dir;
        this.byTensor = byTensor;
    }

    public static WeightStore open(Path dir) {
        Path index = dir.resolve(INDEX_FILE);
        if (Files.isRegularFile(index)) {
            return openSharded(dir, index);
        }
        Path single = dir.resolve(SINGLE_FILE);
        if (!Files.isRegularFile(single)) {
            throw new ModelFormatException(
                    dir + ": no " + SINGLE_FILE + " or " + INDEX_FILE + " in the model directory");
        }
        SafetensorsFile f = SafetensorsFile.open(single);
        Map<String, SafetensorsFile> m = new LinkedHashMap<>();
        f.tensors().keySet().forEach(n -> m.put(n, f));
        return new WeightStore(dir, Collections.unmodifiableMap(m));
    }

    private static WeightStore openSharded(Path dir, Path index) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(index + ": not valid JSON: " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new ModelFormatException(index + ": missing the weight_map object");
        }
        Path base = dir.toAbsolutePath().normalize();
        Map<String, SafetensorsFile> shards = new HashMap<>();
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new ModelFormatException(index + ": shard of tensor '" + e.getKey() + "' is not a file name");
            }
            String shard = e.getValue().asText();
            Path p = checkShardName(index, base, shard);
            SafetensorsFile f = shards.computeIfAbsent(shard, s -> {
                if (!Files.isRegularFile(p)) {
                    throw new ModelFormatException(index + ": shard '" + s + "' does not exist");
                }
                return SafetensorsFile.open(p);
            });
            if (!f.tensors().containsKey(e.getKey())) {
                throw new ModelFormatException(
                        index + ": tensor '" + e.getKey() + "' is not in its shard '" + shard + "'");
            }
            byTensor.put(e.getKey(), f);
        }
        return new WeightStore(dir, Collections.unmodifiableMap(byTensor));
    }

    static Path checkShardName(Path index, Path base, String shard) {
        boolean plain = !shard.isEmpty()
                && !shard.contains("/")
                && !shard.contains("\\")
                && !shard.equals(".")
                && !shard.equals("..")
                && !shard.contains("\0");
        Path p = plain ? base.resolve(shard).normalize() : null;
        if (p == null || !p.getParent().equals(base)) {
            throw new ModelFormatException(
                    index + ": shard name '" + shard + "' is not a plain file name inside the model directory");
        }
        return p;
    }

    public Path directory() {
        return dir;
    }

    public Set<String> names() {
        return byTensor.keySet();
    }

    public boolean contains(String name) {
        return byTensor.containsKey(name);
    }

    public TensorInfo info(String name) {
        return file(name).info(name);
    }

    /**
     * The tensor's values widened to fp32.
     *
     * @throws ModelFormatException when a value is NaN or infinite (a corrupt checkpoint that would
     *     turn every output it touches into NaN), naming the tensor and its file
     */
    public float[] floats(String name) {
        SafetensorsFile f = file(name);
        float[] v = f.readFloats(name);
        // One comparison per value just widened (still in cache); no second read of the file.
        for (int i = 0; i < v.length; i++) {
            float x = v[i];
            if (x - x != 0f) { // NaN or +-Inf
                throw new ModelFormatException(f.path() + ": tensor '" + name + "' holds " + x + " at element " + i
                        + "; the weights are corrupt (re-download or re-convert the model)");
            }
        }
        return v;
    }

    /** The tensor's fp32 values after checking that its shape is the expected one. */
    public float[] floats(String name, long... expectedShape) {
        checkShape(name, info(name), expectedShape);
        return floats(name);
    }

    /**
     * A matrix weight in its stored precision after checking its shape: a BF16 tensor as its bit
     * patterns ({@link WeightData.Bf16}, half the memory, exact), any other as fp32.
     *
     * @throws ModelFormatException on a wrong shape or a NaN or infinite value, as {@link #floats(String)}
     */
    public WeightData matrix(String name, long... expectedShape) {
        TensorInfo t = info(name);
        if (t.dtype() != DType.BF16) {
            return new WeightData.F32(floats(name, expectedShape));
        }
        checkShape(name, t, expectedShape);
        SafetensorsFile f = file(name);
        short[] bits = f.readBf16Bits(name);
        for (int i = 0; i < bits.length; i++) {
            if ((bits[i] & 0x7f80) == 0x7f80) { // exponent all ones: NaN or +-Inf
                throw new ModelFormatException(f.path() + ": tensor '" + name + "' holds "
                        + WeightData.Bf16.toFloat(bits[i]) + " at element " + i
                        + "; the weights are corrupt (re-download or re-convert the model)");
            }
        }
        return new WeightData.Bf16(bits);
    }

    private void checkShape(String name, TensorInfo t, long[] expectedShape) {
        if (!java.util.Arrays.equals(t.shape(), expectedShape)) {
            throw new ModelFormatException(dir + ": tensor '" + name + "' has shape "
                    + java.util.Arrays.toString(t.shape()) + ", expected " + java.util.Arrays.toString(expectedShape));
        }
    }

    /** The stored dtype shared by the model's tensors (the most common one). */
    public DType storedDtype() {
        Map<DType, Integer> counts = new HashMap<>();
        for (String n : names()) {
            counts.merge(info(n).dtype(), 1, Integer::sum);
        }
        return counts.entrySet().stream()
                .max(Map.Entry.comparingByValue())
                .map(Map.Entry::getKey)
                .orElse(DType.F32);
    }

    private SafetensorsFile file(String name) {
        SafetensorsFile f = byTensor.get(name);
        if (f == null) {
            throw new ModelFormatException(dir + ": the model has no tensor named '" + name + "'");
        }
        return f;
    }
}
