package dev.attune.examples.bench;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code attune bench <name> [--key value ...]}: the benchmarks whose figures go into
 * docs/benchmarks.md. Reached from {@code bin/attune bench}.
 */
public final class BenchCommand {

    private BenchCommand() {}

    public static int run(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println(
                    "usage: attune bench cpu-embed [--input F] [--threads N] [--batch-size N] [--rows N] [--repeat N]\n"
                            + "       attune bench cpu-attention [--threads N] [--heads N] [--head-dim N]\n"
                            + "       attune bench decoder-prefill --model DIR [--threads N] [--tokens 128,512] [--warmup N] [--repeat N]\n"
                            + "                                    [--forward-repeat N] [--logprobs K] [--ids-dir D] [--profile true]\n"
                            + "       attune bench decoder-decode --model DIR [--threads N] [--prompt-tokens N] [--new-tokens N]\n"
                            + "                                   [--batch N] [--repeat N] [--ids-dir D] [--profile true] [--bandwidth-mib N]\n"
                            + "       attune bench gpu-load [--upload-mib N] [--wait-ms N] [--texts N]");
            return 2;
        }
        Map<String, String> opts = new LinkedHashMap<>();
        for (int i = 2; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                System.err.println("attune bench: expected --key value, got '" + args[i] + "'");
                return 2;
            }
            opts.put(args[i].substring(2), args[++i]);
        }
        return switch (args[1]) {
            case "cpu-embed" -> CpuEmbeddingBenchmark.run(opts);
            case "cpu-attention" -> CpuAttentionBenchmark.run(opts);
            case "decoder-prefill" -> DecoderPrefillBenchmark.run(opts);
            case "decoder-decode" -> DecoderDecodeBenchmark.run(opts);
            case "gpu-load" -> GpuLoadBenchmark.run(opts);
            default -> {
                System.err.println("attune bench: unknown benchmark '" + args[1]
                        + "' (cpu-embed, cpu-attention, decoder-prefill, decoder-decode, gpu-load)");
                yield 2;
            }
        };
    }
}
