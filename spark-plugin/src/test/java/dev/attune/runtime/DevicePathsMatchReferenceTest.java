package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.CpuMathAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.SimulatedDevices;
import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.model.builtin.BuiltinModel;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.task.EncoderScoring;
import dev.attune.testing.TestTexts;
import dev.attune.testing.Vectors;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The differential harness: every CPU path and every simulated device (with the path its
 * selector picks, and every other path it can be forced to run) embeds the same real texts with
 * the real models, and the vectors are compared with {@code cpu-math} in fp32: fp32 paths within
 * 1e-4 per component, fp16/bf16 paths with cosine similarity at least 0.999.
 */
class DevicePathsMatchReferenceTest {

    private static final List<String> TEXTS = TestTexts.VARIED.subList(0, 24);
    private static CpuThreads threads;
    private static EncoderModel minilm;
    private static EncoderModel bge;
    private static float[][] minilmRef;
    private static float[][] bgeRef;

    @BeforeAll
    static void load() {
        threads = new CpuThreads(2);
        minilm = EncoderModel.load(BuiltinModels.resolve(BuiltinModel.ALL_MINILM_L6_V2.uri()));
        bge = EncoderModel.load(BuiltinModels.resolve(BuiltinModel.BGE_SMALL_EN_V15.uri()));
        minilmRef = EncoderScoring.embed(minilm, TEXTS, 8, 4096, new CpuMathAttention(), threads);
        bgeRef = EncoderScoring.embed(bge, TEXTS, 8, 4096, new CpuMathAttention(), threads);
    }

    @AfterAll
    static void close() {
        minilm.close();
        bge.close();
        threads.close();
    }

    @TestFactory
    List<DynamicTest> everySimulatedDeviceMatchesTheReference() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String name : SimulatedDevices.names()) {
            DeviceInfo d = SimulatedDevices.get(name, 0);
            tests.add(DynamicTest.dynamicTest(
                    name + " all-MiniLM-L6-v2", () -> check(d, UserOverrides.NONE, minilm, minilmRef)));
        }
        for (String name : List.of("T4", "A100", "P100")) {
            DeviceInfo d = SimulatedDevices.get(name, 0);
            tests.add(DynamicTest.dynamicTest(
                    name + " bge-small-en-v1.5", () -> check(d, UserOverrides.NONE, bge, bgeRef)));
        }
        return tests;
    }

    @TestFactory
    List<DynamicTest> everyPathMatchesTheReference() {
        // Each path forced on a device that runs it, in each dtype that device allows.
        Object[][] cases = {
            {"H100", AttentionPath.FLASH_SM80, ComputeDtype.BF16},
            {"A100", AttentionPath.FLASH_SM80, ComputeDtype.FP16},
            {"T4", AttentionPath.FLASH_SM75, ComputeDtype.FP16},
            {"A100", AttentionPath.MEM_EFFICIENT, ComputeDtype.BF16},
            {"V100", AttentionPath.MEM_EFFICIENT, ComputeDtype.FP16},
            {"P100", AttentionPath.MEM_EFFICIENT, ComputeDtype.FP32},
            {"T4", AttentionPath.MATH, ComputeDtype.FP16},
            {"P100", AttentionPath.MATH, ComputeDtype.FP32},
        };
        List<DynamicTest> tests = new ArrayList<>();
        for (Object[] c : cases) {
            DeviceInfo d = SimulatedDevices.get((String) c[0], 0);
            UserOverrides o = UserOverrides.force((AttentionPath) c[1]).withDtype((ComputeDtype) c[2]);
            tests.add(DynamicTest.dynamicTest(c[0] + " " + c[1] + " " + c[2], () -> {
                Set<String> used = check(d, o, minilm, minilmRef);
                assertEquals(Set.of(((AttentionPath) c[1]).id() + " " + c[2]), used);
            }));
        }
        for (AttentionPath p : List.of(AttentionPath.CPU_FLASH, AttentionPath.CPU_MATH)) {
            tests.add(DynamicTest.dynamicTest("cpu " + p, () -> {
                Set<String> used = check(DeviceInfo.cpu(), UserOverrides.force(p), minilm, minilmRef);
                assertEquals(Set.of(p.id() + " fp32"), used);
                check(DeviceInfo.cpu(), UserOverrides.force(p), bge, bgeRef);
            }));
        }
        return tests;
    }

    @Test
    void theCpuPicksCpuFlash() {
        DeviceRunner r = new DeviceRunner(DeviceInfo.cpu(), UserOverrides.NONE, 0.9);
        EncoderScoring.Embedding[] e = EncoderScoring.embed(minilm, TEXTS, 8, 4096, r, threads);
        for (EncoderScoring.Embedding x : e) {
            assertEquals("cpu-flash", x.path());
        }
    }

    /** Embeds on the device and compares with the reference; returns the "path dtype" pairs used. */
    private static Set<String> check(DeviceInfo device, UserOverrides o, EncoderModel model, float[][] ref) {
        DeviceRunner runner = new DeviceRunner(device, o, 0.9);
        EncoderScoring.Embedding[] got = EncoderScoring.embed(model, TEXTS, 8, 4096, runner, threads);
        Set<String> used = new HashSet<>();
        for (int i = 0; i < TEXTS.size(); i++) {
            float[] a = got[i].vector();
            float[] b = ref[i];
            used.add(got[i].path() + " " + got[i].dtype());
            if (got[i].dtype().equals("fp32")) {
                for (int c = 0; c < a.length; c++) {
                    assertTrue(
                            Math.abs(a[c] - b[c]) <= 1e-4,
                            device.label() + " " + got[i].path() + ": text " + i + " component " + c + " differs by "
                                    + Math.abs(a[c] - b[c]));
                }
            } else {
                double cos = Vectors.cosine(a, b);
                assertTrue(
                        cos >= 0.999,
                        device.label() + " " + got[i].path() + " " + got[i].dtype() + ": text " + i + " cosine " + cos);
            }
        }
        return used;
    }
}
