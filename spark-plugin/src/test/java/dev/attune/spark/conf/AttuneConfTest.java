package dev.attune.spark.conf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.device.SimulatedDevices;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.runtime.AttuneSettings;
import dev.attune.runtime.OnError;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The {@code spark.attune.*} registry: every default parses, {@link AttuneConf#validate} reports
 * every problem of a configuration at once (unknown keys with the nearest known one, bad values
 * with key and value), {@link AttuneConf#overrides} maps the path, exclusion and dtype settings, and
 * {@code spark.attune.simulate.devices} parses its pairs and rejects bad ones naming the part;
 * {@link AttuneConf#parse} reads every setting into {@link AttuneSettings} after validating.
 */
class AttuneConfTest {

    @Test
    void everyDefaultParsesAndEveryKeyIsUnderThePrefix() {
        Set<String> keys = new HashSet<>();
        Map<String, String> allDefaults = new HashMap<>();
        for (ConfEntry<?> e : AttuneConf.entries()) {
            assertTrue(e.key().startsWith(AttuneConf.PREFIX), e.key());
            assertTrue(keys.add(e.key()), "key registered twice: " + e.key());
            assertFalse(e.doc().isBlank(), e.key());
            e.defaultValue(); // throws when the default does not parse
            assertEquals(e.defaultValue(), e.get(Map.of()), e.key());
            allDefaults.put(e.key(), e.dflt());
        }
        AttuneConf.validate(allDefaults);
        assertTrue(keys.size() >= 14);
    }

    @Test
    void defaultsAreTheDocumentedOnes() {
        assertEquals("builtin:all-MiniLM-L6-v2", AttuneConf.MODEL.defaultValue());
        assertEquals(true, AttuneConf.MODEL_PRELOAD.defaultValue());
        assertEquals(Optional.empty(), AttuneConf.ATTENTION_PATH.defaultValue());
        assertEquals(Set.of(), AttuneConf.ATTENTION_EXCLUDE.defaultValue());
        assertEquals(Optional.empty(), AttuneConf.DTYPE.defaultValue());
        assertEquals(OnError.FAIL, AttuneConf.ON_ERROR.defaultValue());
        assertEquals(Map.of(), AttuneConf.SIMULATE_DEVICES.defaultValue());
        assertEquals("gpu", AttuneConf.GPU_RESOURCE.defaultValue());
    }

    @Test
    void parseReadsEverySettingWithTheDefaultsForKeysNotSet() {
        AttuneSettings d = AttuneConf.parse(Map.of());
        assertEquals(
                new AttuneSettings(
                        "builtin:all-MiniLM-L6-v2",
                        true,
                        UserOverrides.NONE,
                        0,
                        16384,
                        2,
                        0.9,
                        "gpu",
                        0,
                        1,
                        1000000,
                        OnError.FAIL,
                        Map.of(),
                        "",
                        Map.of()),
                d);

        Map<String, String> conf = new HashMap<>();
        conf.put("spark.attune.model", "/models/m");
        conf.put("spark.attune.model.preload", "false");
        conf.put("spark.attune.attention.path", "math");
        conf.put("spark.attune.attention.exclude", "cpu-flash");
        conf.put("spark.attune.dtype", "fp16");
        conf.put("spark.attune.batch.size", "8");
        conf.put("spark.attune.batch.maxTokens", "512");
        conf.put("spark.attune.gpu.concurrentTasks", "3");
        conf.put("spark.attune.gpu.memoryFraction", "0.5");
        conf.put("spark.attune.gpu.resourceName", "accel");
        conf.put("spark.attune.cpu.threads", "4");
        conf.put("spark.task.cpus", "2");
        conf.put("spark.attune.maxTextChars", "100");
        conf.put("spark.attune.onError", "null");
        conf.put("spark.attune.simulate.devices", "1=T4+A100");
        conf.put("spark.attune.cache.dir", "/tmp/c");
        conf.put("spark.hadoop.fs.s3a.endpoint", "http://minio:9000");
        conf.put("spark.executor.memory", "4g");
        AttuneSettings s = AttuneConf.parse(conf);
        assertEquals(
                new AttuneSettings(
                        "/models/m",
                        false,
                        new UserOverrides(
                                Optional.of(AttentionPath.MATH),
                                Set.of(AttentionPath.CPU_FLASH),
                                Optional.of(ComputeDtype.FP16)),
                        8,
                        512,
                        3,
                        0.5,
                        "accel",
                        4,
                        2,
                        100,
                        OnError.NULL,
                        Map.of("1", List.of("T4", "A100")),
                        "/tmp/c",
                        Map.of("fs.s3a.endpoint", "http://minio:9000")),
                s);
        assertEquals(
                1,
                AttuneConf.parse(Map.of("spark.task.cpus", "many")).taskCpus(),
                "not a number: 1, as Spark's default");
    }

    @Test
    void parseValidatesFirstAndReportsEveryProblem() {
        AttuneConfigException e = assertThrows(
                AttuneConfigException.class,
                () -> AttuneConf.parse(Map.of("spark.attune.batch.size", "many", "spark.attune.modle", "x")));
        assertTrue(e.getMessage().startsWith("invalid Attune configuration: "), e.getMessage());
        assertTrue(e.getMessage().contains("spark.attune.batch.size = 'many' is not valid"), e.getMessage());
        assertTrue(
                e.getMessage().contains("unknown key spark.attune.modle (did you mean spark.attune.model?)"),
                e.getMessage());
    }

    @Test
    void valuesAreTrimmedAndParsed() {
        assertEquals(42, AttuneConf.BATCH_SIZE.get(Map.of("spark.attune.batch.size", " 42 ")));
        assertEquals(0.5, AttuneConf.GPU_MEMORY_FRACTION.get(Map.of("spark.attune.gpu.memoryFraction", "0.5")));
        assertEquals(OnError.NULL, AttuneConf.ON_ERROR.get(Map.of("spark.attune.onError", "NULL")));
        assertEquals(false, AttuneConf.MODEL_PRELOAD.get(Map.of("spark.attune.model.preload", "False")));
    }

    @Test
    void badValuesNameKeyValueAndWhatIsAllowed() {
        AttuneConfigException e = assertThrows(
                AttuneConfigException.class,
                () -> AttuneConf.BATCH_MAX_TOKENS.get(Map.of("spark.attune.batch.maxTokens", "-3")));
        assertEquals("spark.attune.batch.maxTokens = '-3' is not valid: must be at least 1", e.getMessage());
        e = assertThrows(AttuneConfigException.class, () -> AttuneConf.GPU_MEMORY_FRACTION.parse("1.5"));
        assertTrue(e.getMessage().contains("(0, 1]"), e.getMessage());
        e = assertThrows(AttuneConfigException.class, () -> AttuneConf.BATCH_SIZE.parse("many"));
        assertTrue(e.getMessage().contains("not an integer"), e.getMessage());
        e = assertThrows(AttuneConfigException.class, () -> AttuneConf.MODEL.parse("  "));
        assertTrue(e.getMessage().contains("spark.attune.model"), e.getMessage());
        e = assertThrows(AttuneConfigException.class, () -> AttuneConf.ON_ERROR.parse("skip"));
        assertTrue(e.getMessage().contains("use fail or null"), e.getMessage());
    }

    @Test
    void validateReportsEveryProblemAtOnce() {
        Map<String, String> conf = new LinkedHashMap<>();
        conf.put("spark.attune.batch.maxTokens", "-3");
        conf.put("spark.attune.modle", "builtin:all-MiniLM-L6-v2");
        conf.put("spark.attune.dtype", "fp8");
        conf.put("spark.attune.gpu.memoryFraction", "1.5");
        conf.put("spark.attune.attention.path", "warp-speed");
        conf.put("spark.attune.completelyDifferentThing", "1");
        conf.put("spark.executor.memory", "not an Attune key"); // ignored
        conf.put("spark.attune.batch.size", "8"); // fine
        AttuneConfigException e = assertThrows(AttuneConfigException.class, () -> AttuneConf.validate(conf));
        String m = e.getMessage();
        for (String part : List.of(
                "spark.attune.batch.maxTokens = '-3'",
                "unknown key spark.attune.modle (did you mean " + "spark.attune.model?)",
                "spark.attune.dtype = 'fp8'",
                "spark.attune.gpu.memoryFraction = '1.5'",
                "spark.attune.attention.path = 'warp-speed'",
                "unknown key spark.attune.completelyDifferentThing")) {
            assertTrue(m.contains(part), "missing '" + part + "' in: " + m);
        }
        assertFalse(m.contains("completelyDifferentThing (did you mean"), "no suggestion for a far-off key: " + m);
        assertFalse(m.contains("spark.executor.memory"), m);
        assertFalse(m.contains("spark.attune.batch.size"), m);
    }

    @Test
    void forcedAndExcludedPathConflict() {
        AttuneConfigException e = assertThrows(
                AttuneConfigException.class,
                () -> AttuneConf.validate(Map.of(
                        "spark.attune.attention.path", "math", "spark.attune.attention.exclude", "cpu-math,math")));
        assertTrue(e.getMessage().contains("forces math") && e.getMessage().contains("excludes"), e.getMessage());
        AttuneConf.validate(
                Map.of("spark.attune.attention.path", "math", "spark.attune.attention.exclude", "cpu-math"));
    }

    @Test
    void overridesMapPathExclusionsAndDtype() {
        assertEquals(UserOverrides.NONE, AttuneConf.overrides(Map.of()));
        assertEquals(
                UserOverrides.NONE,
                AttuneConf.overrides(Map.of(
                        "spark.attune.attention.path",
                        "AUTO",
                        "spark.attune.dtype",
                        "auto",
                        "spark.attune.attention.exclude",
                        " , ")));
        UserOverrides o = AttuneConf.overrides(Map.of(
                "spark.attune.attention.path",
                "Flash-SM75",
                "spark.attune.attention.exclude",
                "math, cpu-math",
                "spark.attune.dtype",
                "bfloat16"));
        assertEquals(
                new UserOverrides(
                        Optional.of(AttentionPath.FLASH_SM75),
                        Set.of(AttentionPath.MATH, AttentionPath.CPU_MATH),
                        Optional.of(ComputeDtype.BF16)),
                o);
        AttuneConfigException e = assertThrows(
                AttuneConfigException.class,
                () -> AttuneConf.overrides(Map.of("spark.attune.attention.exclude", "math,warp")));
        assertTrue(
                e.getMessage().contains("spark.attune.attention.exclude")
                        && e.getMessage().contains("'warp'"),
                e.getMessage());
    }

    @Test
    void simulatedDevicesParse() {
        Map<String, List<String>> m = AttuneConf.SIMULATE_DEVICES.parse("0=T4,1=A100+T4,*=V100");
        assertEquals(List.of("0", "1", "*"), List.copyOf(m.keySet()));
        assertEquals(List.of("T4"), m.get("0"));
        assertEquals(List.of("A100", "T4"), m.get("1"));
        assertEquals(List.of("V100"), m.get("*"));
        assertEquals(
                Map.of("driver", List.of("H100", "l4")), AttuneConf.SIMULATE_DEVICES.parse(" driver = H100 + l4 , "));
        assertEquals(Map.of(), AttuneConf.SIMULATE_DEVICES.parse(""));
        for (String name : SimulatedDevices.names()) {
            assertEquals(
                    List.of(name),
                    AttuneConf.SIMULATE_DEVICES.parse("0=" + name).get("0"));
        }
    }

    @Test
    void badSimulatedDevicesNameThePart() {
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("T4", "'T4' is not EXECUTOR_ID=NAME");
        cases.put("0=T4,=A100", "'=A100' is not EXECUTOR_ID=NAME");
        cases.put("0=", "'0=' is not EXECUTOR_ID=NAME");
        cases.put("0=T4,1=X100", "'1=X100': unknown simulated device 'X100'");
        cases.put("0=T4+", "'0=T4+' has an empty device name");
        cases.put("0=T4++A100", "'0=T4++A100' has an empty device name");
        cases.put("0=T4,0=A100", "'0=A100': executor 0 is given devices twice");
        cases.forEach((value, message) -> {
            AttuneConfigException e =
                    assertThrows(AttuneConfigException.class, () -> AttuneConf.SIMULATE_DEVICES.parse(value), value);
            assertTrue(
                    e.getMessage().startsWith("spark.attune.simulate.devices = '" + value + "' is not valid: "),
                    e.getMessage());
            assertTrue(e.getMessage().contains(message), value + ": " + e.getMessage());
        });
    }
}
