package dev.attune.examples.bench;

import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.select.UserOverrides;
import dev.attune.model.EncoderModel;
import dev.attune.model.builtin.BuiltinModel;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.runtime.GpuRunners;
import dev.attune.task.EncoderScoring;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * {@link GpuBackendBenchmark} (backend open and module JIT, weight upload, CPU while waiting),
 * then the model load to the first batch: the built-in encoder served by the GPU runner as a
 * Spark executor does ({@link GpuRunners#serve}), the time to the first batch of {@code --texts}
 * embeddings (weights uploaded, modules ready) and to the same batch again.
 *
 * <pre>bin/attune bench gpu-load [--upload-mib 512] [--wait-ms 1000] [--texts 256]</pre>
 */
public final class GpuLoadBenchmark {

    private GpuLoadBenchmark() {}

    public static int run(Map<String, String> opts) throws Exception {
        DeviceInfo gpu = GpuBackendBenchmark.run(opts);
        if (gpu == null) {
            return 2;
        }
        int texts = Integer.parseInt(opts.getOrDefault("texts", "256"));
        if (texts > 0) {
            firstBatch(gpu, texts);
        }
        return 0;
    }

    private static void firstBatch(DeviceInfo gpu, int count) throws Exception {
        BuiltinModel builtin = BuiltinModel.find("builtin:all-MiniLM-L6-v2").orElseThrow();
        List<String> all = CpuEmbeddingBenchmark.readTexts(Path.of("examples/data/sample.jsonl"), Integer.MAX_VALUE);
        List<String> batch = all.subList(0, Math.min(count, all.size()));
        long t0 = System.nanoTime();
        try (EncoderModel model = EncoderModel.load(BuiltinModels.resolve(builtin.uri()));
                CpuThreads threads = new CpuThreads(2)) {
            long loaded = System.nanoTime();
            GpuRunners.Served served = GpuRunners.serve(gpu, UserOverrides.NONE, 0.9);
            long opened = System.nanoTime();
            EncoderScoring.Embedding[] first =
                    EncoderScoring.embed(model, batch, 64, Integer.MAX_VALUE, served.runner(), threads);
            long firstDone = System.nanoTime();
            EncoderScoring.embed(model, batch, 64, Integer.MAX_VALUE, served.runner(), threads);
            long again = System.nanoTime();
            System.out.printf(
                    "model %s (%s): host load %.0f ms, runner open %.0f ms, first %d texts %.0f ms (path %s, %s), same again %.0f ms%n",
                    builtin.uri(),
                    served.note(),
                    GpuBackendBenchmark.ms(loaded - t0),
                    GpuBackendBenchmark.ms(opened - loaded),
                    batch.size(),
                    GpuBackendBenchmark.ms(firstDone - opened),
                    first[0].path(),
                    first[0].dtype(),
                    GpuBackendBenchmark.ms(again - firstDone));
            served.runner().close();
        }
    }
}
