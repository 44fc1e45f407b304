package dev.attune.kernels.cuda;

import dev.attune.kernels.device.DeviceInfo;
import java.util.ArrayList;
import java.util.List;

/**
 * Fills the CUDA driver's JIT cache ({@link PtxJitCache}) for one GPU: loads every shipped PTX
 * module the device can run into its primary context, so that executors started later on the
 * same node, driver and cache directory load the modules from the cache instead of compiling
 * them. Used by {@code attune probe --warm}.
 *
 * <p>Lifecycle: each call retains the device's primary context, loads, unloads and releases it;
 * nothing stays. Threading: any thread; the context is current on the calling thread for the
 * call, and the thread's previous context restored after it.
 * Only load this class after the probe found a GPU: it links against JCuda's driver binding.
 */
public final class PtxWarmup {

    /**
     * How one module went.
     *
     * @param module  the module
     * @param millis  time to load it (a JIT on a cold cache, a read on a warm one)
     * @param failure why the driver refused it, or "" when it loaded
     */
    public record Module(String module, long millis, String failure) {}

    private PtxWarmup() {}

    /**
     * Loads each module of {@code gpu} once. A module the driver refuses is reported, not thrown.
     *
     * @throws CudaException when the device's context cannot be retained or bound
     */
    public static List<Module> warm(DeviceInfo gpu) {
        List<Module> out = new ArrayList<>();
        try (PrimaryContext context = PrimaryContext.retain(gpu);
                PrimaryContext.Scope scope = context.enter()) {
            try (PtxModuleCache modules = new PtxModuleCache(gpu)) {
                for (PtxModuleCache.Loaded l : modules.preload(PtxModuleCache.modulesFor(gpu))) {
                    out.add(new Module(
                            l.module(),
                            l.nanos() / 1_000_000,
                            l.ok() ? "" : String.valueOf(l.failure().getMessage())));
                }
            }
        }
        return out;
    }
}
