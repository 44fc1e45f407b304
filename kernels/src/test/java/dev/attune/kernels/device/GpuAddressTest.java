package dev.attune.kernels.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class GpuAddressTest {

    @ParameterizedTest(name = "{0} -> {1} {2}")
    @CsvSource(
            delimiter = '|',
            value = {
                "0                                        | Ordinal | 0",
                "17                                       | Ordinal | 17",
                "' 3 '                                    | Ordinal | 3",
                "0000:3b:00.0                             | PciBus  | 0000:3b:00.0",
                "00000000:3B:00.0                         | PciBus  | 0000:3b:00.0",
                "3b:00.0                                  | PciBus  | 0000:3b:00.0",
                "3B:0.1                                   | PciBus  | 0000:3b:00.1",
                "10001:af:1f.0                            | PciBus  | 10001:af:1f.0",
                "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6 | Uuid    | GPU-8932f937-d72c-4106-c12f-20bd9faed9f6",
                "gpu-8932F937                             | Uuid    | GPU-8932f937",
                "MIG-GPU-8932f937/1/0                     | Uuid    | MIG-gpu-8932f937/1/0",
                "-1                                       | Invalid | negative ordinal",
                "''                                       | Invalid | empty entry",
                "GPU-                                     | Invalid | neither an ordinal, a PCI bus id nor a GPU UUID",
                "3b:00                                    | Invalid | neither an ordinal, a PCI bus id nor a GPU UUID",
                "3b:00.8                                  | Invalid | neither an ordinal, a PCI bus id nor a GPU UUID",
                "cuda:0                                   | Invalid | neither an ordinal, a PCI bus id nor a GPU UUID",
                "99999999999                              | Invalid | ordinal out of range",
            })
    void parsesEveryForm(String text, String kind, String value) {
        GpuAddress a = GpuAddress.parse(text);
        assertEquals(kind, a.getClass().getSimpleName(), () -> "kind of '" + text + "': " + a);
        String actual;
        if (a instanceof GpuAddress.Ordinal o) {
            actual = Integer.toString(o.index());
        } else if (a instanceof GpuAddress.PciBus p) {
            actual = p.busId();
        } else if (a instanceof GpuAddress.Uuid u) {
            actual = u.uuid();
        } else {
            actual = ((GpuAddress.Invalid) a).why();
        }
        assertEquals(value, actual);
    }

    @Test
    void nullIsInvalid() {
        assertInstanceOf(GpuAddress.Invalid.class, GpuAddress.parse(null));
    }

    @Test
    void abbreviatedUuidMatchesByPrefixOnly() {
        GpuAddress.Uuid u = (GpuAddress.Uuid) GpuAddress.parse("GPU-8932F937");
        assertTrue(u.matches("GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"));
        assertTrue(u.matches("gpu-8932F937-D72C-4106-C12F-20BD9FAED9F6"));
        assertFalse(u.matches("GPU-18932f93-d72c-4106-c12f-20bd9faed9f6"));
        assertFalse(u.matches(""));
    }

    @Test
    void normalizesOnlyBusIds() {
        assertEquals(Optional.of("0000:3b:00.0"), GpuAddress.normalizePciBusId("00000000:3B:00.0"));
        assertEquals(Optional.empty(), GpuAddress.normalizePciBusId("GPU-3b"));
        assertEquals(Optional.empty(), GpuAddress.normalizePciBusId(null));
    }
}
