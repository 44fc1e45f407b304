package dev.attune.testing.decoder;

import dev.attune.kernels.attention.CpuFlashAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.ops.CpuTensorOps;
import dev.attune.kernels.ops.Tensor;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.llama.LlamaGraph;
import dev.attune.model.llama.SequenceBatch;
import java.util.Arrays;
import java.util.List;

/**
 * Greedy decoding without a KV cache, the oracle of the cached generators: the whole sequence
 * through the uncached fp32 CPU pass at every step, the argmax of the last position's logits
 * (the lower id on a tie).
 */
public final class UncachedGreedy {

    private UncachedGreedy() {}

    /** The {@code steps} tokens greedy decoding appends to {@code prompt}. */
    public static int[] continuation(
            LlamaGraph graph, LlamaGraph.Resident w, CpuThreads threads, int[] prompt, int steps) {
        int[] all = prompt.clone();
        for (int s = 0; s < steps; s++) {
            TensorOps o = new CpuTensorOps(ComputeDtype.FP32, new CpuFlashAttention(), threads);
            Tensor h = graph.forward(w, SequenceBatch.prefill(List.of(all)), o);
            all = Arrays.copyOf(all, all.length + 1);
            all[all.length - 1] = argmax(o.logits(h, new int[] {all.length - 2}, w.lmHead()));
        }
        return Arrays.copyOfRange(all, prompt.length, all.length);
    }

    /** The index of the largest value, the lowest on a tie. */
    public static int argmax(float[] z) {
        int best = 0;
        for (int i = 1; i < z.length; i++) {
            if (z[i] > z[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The index of the largest value, the lowest on a tie. */
    public static int argmax(double[] z) {
        int best = 0;
        for (int i = 1; i < z.length; i++) {
            if (z[i] > z[best]) {
                best = i;
            }
        }
        return best;
    }
}
