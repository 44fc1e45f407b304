package dev.attune.kernels.ptx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.attune.kernels.cuda.launch.AttentionLaunch;
import dev.attune.kernels.cuda.launch.EncoderOpsLaunch;
import dev.attune.kernels.cuda.launch.FlashSm75Launch;
import dev.attune.kernels.cuda.launch.FlashSm80Launch;
import dev.attune.kernels.cuda.launch.GemmLaunch;
import dev.attune.kernels.cuda.launch.GemmVariant;
import dev.attune.kernels.cuda.launch.LaunchShape;
import dev.attune.kernels.cuda.launch.MathAttentionLaunch;
import dev.attune.kernels.cuda.launch.MemEfficientLaunch;
import dev.attune.kernels.select.ComputeDtype;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Supplier;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The Java launch classes and the shipped PTX agree: every kernel name a launch class can produce
 * (every dtype, head dims 8..256 in steps of 8, every GEMM variant, every encoder op) is an
 * {@code .entry} of the module it names, its {@code .maxntid} is the launch's block, and every
 * entry of a module is launched by something.
 */
class PtxLaunchBoundsTest {

    /** Encoder ops by launch kind, as EncoderOpsLaunch documents them; an (op, dtype) it refuses is not launched. */
    private static final List<String> PER_ROW_OPS =
            List.of("embed", "gather_rows", "add_layernorm", "pool_mean", "pool_cls", "l2_normalize");

    private static final List<String> ELEMENTWISE_OPS =
            List.of("gelu", "residual_add", "count_nonfinite", "to_f32", "from_f32");

    /** One launch a class can make: the module it loads and the shape. */
    private record Launch(String module, LaunchShape shape, String how) {}

    private static List<Launch> everyLaunch() {
        List<Launch> out = new ArrayList<>();
        List<AttentionLaunch> fused =
                List.of(FlashSm80Launch.INSTANCE, FlashSm75Launch.INSTANCE, MemEfficientLaunch.INSTANCE);
        for (AttentionLaunch a : fused) {
            for (ComputeDtype dt : ComputeDtype.values()) {
                for (int d = 8; d <= 256; d += 8) {
                    if (a.supports(dt, d)) {
                        out.add(new Launch(
                                a.module(), a.shape(dt, d, 12, 2, 100), a.module() + " " + dt + " head_dim " + d));
                    }
                }
            }
        }
        MathAttentionLaunch math = MathAttentionLaunch.INSTANCE;
        for (ComputeDtype dt : ComputeDtype.values()) {
            out.add(new Launch(math.module(), math.scores(dt, 12, 2, 100, 100), "math scores " + dt));
            out.add(new Launch(math.module(), math.pv(dt, 64, 12, 2, 100), "math pv " + dt));
        }
        out.add(new Launch(math.module(), math.softmax(12, 2, 100), "math softmax"));
        for (GemmVariant v : GemmVariant.values()) {
            for (ComputeDtype dt : ComputeDtype.values()) {
                if (GemmLaunch.supports(v, dt, 64, 64)) {
                    out.add(new Launch(v.module(), GemmLaunch.shape(v, dt, 100, 64, 64), "GEMM " + v + " " + dt));
                }
            }
        }
        for (ComputeDtype dt : ComputeDtype.values()) {
            for (String op : PER_ROW_OPS) {
                addIfLaunched(out, () -> EncoderOpsLaunch.perRow(op, dt, 100), op + " " + dt);
            }
            for (String op : ELEMENTWISE_OPS) {
                addIfLaunched(out, () -> EncoderOpsLaunch.elementwise(op, dt, 100_000), op + " " + dt);
            }
        }
        return out;
    }

    private static void addIfLaunched(List<Launch> out, Supplier<LaunchShape> shape, String how) {
        try {
            out.add(new Launch(EncoderOpsLaunch.MODULE, shape.get(), "encoder op " + how));
        } catch (IllegalArgumentException e) {
            // the launch class does not launch this op for this dtype
        }
    }

    private static final Map<String, Map<String, PtxEntry>> ENTRIES = new HashMap<>();

    private static Map<String, PtxEntry> entriesOf(String module) {
        return ENTRIES.computeIfAbsent(module, m -> {
            Map<String, PtxEntry> byName = new TreeMap<>();
            PtxText.entries(ShippedPtx.get().ptxText(m)).forEach(e -> byName.put(e.name(), e));
            return byName;
        });
    }

    @TestFactory
    List<DynamicTest> everyLaunchedKernelIsAnEntryWithItsBlockAsMaxntid() {
        Map<String, List<Launch>> byKernel = new TreeMap<>();
        for (Launch l : everyLaunch()) {
            byKernel.computeIfAbsent(l.module() + "/" + l.shape().kernel(), k -> new ArrayList<>())
                    .add(l);
        }
        List<DynamicTest> tests = new ArrayList<>();
        byKernel.forEach((key, launches) -> tests.add(DynamicTest.dynamicTest(key, () -> {
            Launch first = launches.get(0);
            String kernel = first.shape().kernel();
            Map<String, PtxEntry> entries = entriesOf(first.module());
            PtxEntry entry = entries.get(kernel);
            if (entry == null) {
                fail(first.module() + ".ptx has no entry " + kernel + " (launched for " + first.how()
                        + "); its entries: " + entries.keySet());
            }
            assertTrue(
                    entry.maxThreadsPerBlock().isPresent(),
                    kernel + " declares no .maxntid: every kernel needs __launch_bounds__ with its Java thread count");
            for (Launch l : launches) {
                int block = l.shape().block();
                assertEquals(
                        block,
                        entry.maxThreadsPerBlock().getAsInt(),
                        kernel + ": .maxntid " + entry.maxntid() + " vs the block of " + l.how());
                assertEquals(
                        block,
                        entry.maxntid().get(0),
                        kernel + ": launches are one-dimensional; .maxntid " + entry.maxntid());
            }
        })));
        return tests;
    }

    @Test
    void everyEntryIsLaunchedBySomething() throws Exception {
        Map<String, Set<String>> launched = new TreeMap<>();
        for (Launch l : everyLaunch()) {
            launched.computeIfAbsent(l.module(), m -> new TreeSet<>())
                    .add(l.shape().kernel());
        }
        List<String> orphans = new ArrayList<>();
        for (String module : ModuleTable.read(KernelsTree.cudaDir()).modules()) {
            for (String entry : entriesOf(module).keySet()) {
                if (!launched.getOrDefault(module, Set.of()).contains(entry)) {
                    orphans.add(module + "/" + entry);
                }
            }
        }
        assertEquals(
                List.of(),
                orphans,
                "PTX entries no launch class produces (dead code, or a launch class is missing " + "a case)");
    }
}
