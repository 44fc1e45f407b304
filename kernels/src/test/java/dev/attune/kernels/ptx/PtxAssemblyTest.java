package dev.attune.kernels.ptx;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Every shipped PTX module assembles, as shipped, for every target it claims, with JCuda's
 * in-process nvPTXCompiler: no GPU and no CUDA toolkit needed, so it runs in CI. This is the one
 * check of the targets older than CUDA 13's {@code ptxas} knows (sm_60, sm_70), and it proves
 * the lowered {@code .version} and {@code .target} are ones an older driver's JIT accepts.
 */
class PtxAssemblyTest {

    @TestFactory
    List<DynamicTest> everyModuleAssemblesForEveryClaimedTarget() {
        ShippedPtx shipped = ShippedPtx.get();
        List<DynamicTest> tests = new ArrayList<>();
        for (PtxModuleInfo info : shipped.modules()) {
            for (String target : info.checkedFor()) {
                tests.add(DynamicTest.dynamicTest(info.module() + " for " + target, () -> {
                    Optional<String> error = NvPtxCompiler.assemble(shipped.ptxText(info.module()), target);
                    assertTrue(
                            error.isEmpty(),
                            () -> info.module() + ".ptx (.version " + info.ptxVersion() + ", .target "
                                    + info.target() + ") does not assemble for " + target + " with nvPTXCompiler "
                                    + NvPtxCompiler.version() + ":\n" + error.orElse(""));
                }));
            }
        }
        return tests;
    }
}
