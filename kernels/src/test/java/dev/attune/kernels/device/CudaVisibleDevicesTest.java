package dev.attune.kernels.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CudaVisibleDevicesTest {

    /** value | entries the driver applies | stop index | hides all | explanation contains */
    @ParameterizedTest(name = "CUDA_VISIBLE_DEVICES=''{0}''")
    @CsvSource(
            delimiter = '|',
            value = {
                "''                     | ''          | -1 | true  | hides every GPU",
                "'  '                   | ''          | -1 | true  | hides every GPU",
                "-1                     | ''          |  0 | true  | hides every GPU: the driver stops reading at '-1'",
                "0,1                    | 0,1         | -1 | false | limits the driver to 0,1",
                "2,-1,3                 | 2           |  1 | false | stops reading at '-1' and shows only 2",
                "0,,1                   | 0           |  1 | false | (empty entry)",
                "1,foo,0                | 1           |  1 | false | stops reading at 'foo'",
                "GPU-8932f937,1         | GPU-8932f937,1 | -1 | false | limits the driver to GPU-8932f937,1",
                "0000:3b:00.0           | ''          |  0 | true  | does not accept PCI bus ids such as 0000:3b:00.0",
                "1,3B:00.0              | 1           |  1 | false | does not accept PCI bus ids such as 0000:3b:00.0",
            })
    void readsTheListAsTheDriverDoes(String value, String accepted, int stop, boolean hidesAll, String explained) {
        CudaVisibleDevices c = CudaVisibleDevices.parse(value);
        assertEquals(accepted, c.accepted().stream().map(GpuAddress::text).collect(Collectors.joining(",")));
        assertEquals(stop, c.stopIndex());
        assertEquals(hidesAll, c.hidesAll());
        String text = c.explain(-1);
        assertTrue(text.startsWith("CUDA_VISIBLE_DEVICES='" + value + "'"), text);
        assertTrue(text.contains(explained), text);
    }

    @Test
    void unsetMeansNoRestriction() {
        assertTrue(CudaVisibleDevices.fromEnvironment(Map.of()).isEmpty());
        assertTrue(CudaVisibleDevices.fromEnvironment(null).isEmpty());
        assertTrue(CudaVisibleDevices.fromEnvironment(Map.of("CUDA_VISIBLE_DEVICES", ""))
                .isPresent());
    }

    @Test
    void mapsPhysicalOrdinalsToDriverOrdinals() {
        CudaVisibleDevices c = CudaVisibleDevices.parse("3,1");
        assertTrue(c.acceptedOrdinalsOnly());
        assertEquals(0, c.driverOrdinalOf(3));
        assertEquals(1, c.driverOrdinalOf(1));
        assertEquals(-1, c.driverOrdinalOf(0));
        assertFalse(CudaVisibleDevices.parse("GPU-1,0").acceptedOrdinalsOnly());
        assertFalse(CudaVisibleDevices.parse("").acceptedOrdinalsOnly());
    }

    @Test
    void saysWhenTheDriverShowsFewerThanListed() {
        String text = CudaVisibleDevices.parse("0,1,7").explain(2);
        assertTrue(text.contains("the driver shows only 2 devices"), text);
        assertFalse(CudaVisibleDevices.parse("0,1").explain(2).contains("shows only"));
    }

    @Test
    void findsPciBusIdsAnywhere() {
        assertEquals(
                java.util.List.of("0000:3b:00.0", "0000:af:00.0"),
                CudaVisibleDevices.parse("0,0000:3b:00.0,00000000:AF:00.0").pciBusIds());
    }
}
