package dev.attune.task.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.CpuFlashAttention;
import dev.attune.kernels.cpu.CpuThreads;
import dev.attune.kernels.kv.KvBlockPool;
import dev.attune.kernels.ops.CpuTensorOps;
import dev.attune.kernels.ops.CpuWeights;
import dev.attune.kernels.ops.TensorOps;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.model.DecoderModel;
import dev.attune.model.llama.LlamaGraph;
import dev.attune.model.llama.RandomDecoderCheckpoint;
import dev.attune.model.llama.RandomDecoderCheckpoint.ModelType;
import dev.attune.task.RowTooLongException;
import dev.attune.testing.decoder.DecoderReference;
import dev.attune.testing.decoder.TestTokenizers;
import dev.attune.testing.decoder.UncachedGreedy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Continuous batching over the paged cache (fp32 CPU, a GQA Llama checkpoint with the real Llama 2
 * tokenizer): greedy tokens are the same with the cache as without it (the whole sequence again
 * every step), one row at a time or several together with chunked prefills, and under
 * preemption; sampled tokens depend on each row's seed and key only, not on batching or input
 * order; stop strings and length end a row with the right reason and text; a row that cannot fit
 * the cache alone is named.
 */
class GeneratorTest {

    @TempDir
    static Path tmp;

    private static DecoderModel model;
    private static LlamaGraph.Resident weights;
    private static CpuThreads threads;
    private static final Set<Integer> NO_EOS = Set.of();

    @BeforeAll
    static void load() throws Exception {
        Path dir = tmp.resolve("llama");
        RandomDecoderCheckpoint.builder(ModelType.LLAMA)
                .numHeads(4)
                .numKvHeads(2)
                .headDim(16)
                .initStd(0.3)
                .build()
                .write(dir, TestTokenizers.dir("llama2"));
        model = DecoderModel.load(dir);
        weights = model.graph().residentOn(new CpuWeights(ComputeDtype.FP32));
        threads = new CpuThreads(2);
    }

    @AfterAll
    static void close() {
        model.close();
        threads.close();
    }

    private static TensorOps ops() {
        return new CpuTensorOps(ComputeDtype.FP32, new CpuFlashAttention(), threads);
    }

    private static Generator generator(int blocks, int blockSize, int maxActive, int passTokens, Set<Integer> eos) {
        return generator(blocks, blockSize, maxActive, passTokens, eos, true, Generator.Listener.NONE);
    }

    private static Generator generator(
            int blocks,
            int blockSize,
            int maxActive,
            int passTokens,
            Set<Integer> eos,
            boolean sharing,
            Generator.Listener listener) {
        return new Generator(
                model.graph(),
                weights,
                GeneratorTest::ops,
                new KvBlockPool(model.graph().kvShape(blockSize), blocks, sharing),
                model.tokenizer(),
                eos,
                maxActive,
                passTokens,
                listener);
    }

    private static List<GenerationRequest> rows(SamplingParams p) {
        List<GenerationRequest> r = new ArrayList<>();
        String[] prompts = {
            "The quick brown fox",
            "Spark executors probe their GPUs",
            "a",
            "naïve café — 東京",
            "Once upon a time there was"
        };
        for (int i = 0; i < prompts.length; i++) {
            r.add(new GenerationRequest(model.tokenize(prompts[i]), p, "row-" + i));
        }
        return r;
    }

    @Test
    void greedyTokensAreTheSameWithAndWithoutTheCacheAloneOrBatched() {
        SamplingParams greedy = SamplingParams.greedy(8);
        List<GenerationRequest> rows = rows(greedy);
        List<GeneratedText> alone = generator(64, 4, 1, 256, NO_EOS).generate(rows);
        List<GeneratedText> batched = generator(64, 4, 3, 6, NO_EOS).generate(rows); // prefills chunked to 6 tokens
        for (int i = 0; i < rows.size(); i++) {
            int[] want = UncachedGreedy.continuation(
                    model.graph(), weights, threads, rows.get(i).promptIds(), 8);
            assertArrayEquals(want, alone.get(i).tokens(), "row " + i + " one at a time");
            assertArrayEquals(want, batched.get(i).tokens(), "row " + i + " batched");
            assertEquals(GeneratedText.LENGTH, batched.get(i).finishReason());
            assertEquals(model.tokenizer().decode(want, true), batched.get(i).text());
            assertArrayEquals(rows.get(i).promptIds(), batched.get(i).promptIds());
        }
    }

    @Test
    void rowsWithACommonPromptPrefixShareItsBlocksAndGenerateTheSameTokens() {
        String preamble = "You are a careful assistant. Answer in one short sentence, then stop. Question:";
        List<GenerationRequest> rows = new ArrayList<>();
        SamplingParams p = new SamplingParams(0.8, 0, 0.95, 0, 1, 0, 6, List.of(), 5);
        String[] questions = {" why is the sky blue?", " what is Spark?", " 2 + 2?", " a", " naïve café?"};
        for (int i = 0; i < questions.length; i++) {
            rows.add(new GenerationRequest(model.tokenize(preamble + questions[i]), p, "q" + i));
        }
        int common = 0;
        while (rows.get(0).promptIds()[common] == rows.get(1).promptIds()[common]) {
            common++;
        }
        assertTrue(common >= 16, "a preamble of " + common + " tokens");
        long[] shared = new long[2];
        long[] prefill = new long[2];
        List<List<GeneratedText>> out = new ArrayList<>();
        for (int run = 0; run < 2; run++) {
            int k = run;
            Generator.Listener counting = new Generator.Listener() {
                @Override
                public void pass(int activeRows, int decodeTokens, int prefillTokens, int blocksInUse, long nanos) {
                    prefill[k] += prefillTokens;
                }

                @Override
                public void sharedPrefix(int tokens) {
                    shared[k] += tokens;
                }
            };
            // Two rows active at a time: later rows find the preamble the first ones computed.
            out.add(generator(64, 4, 2, 64, NO_EOS, run == 1, counting).generate(rows));
        }
        for (int i = 0; i < rows.size(); i++) {
            assertArrayEquals(out.get(0).get(i).tokens(), out.get(1).get(i).tokens(), "row " + i);
            assertEquals(out.get(0).get(i).text(), out.get(1).get(i).text(), "row " + i);
        }
        assertEquals(0, shared[0], "no sharing when the pool does not share");
        assertTrue(shared[1] >= (rows.size() - 1) * (common / 4 * 4 - 4), "shared prompt tokens: " + shared[1]);
        assertEquals(prefill[0] - shared[1], prefill[1], "each shared token is one prefill token fewer");
        // Greedy under a tight pool (preemption with shared blocks) gives the uncached tokens.
        List<GenerationRequest> greedy = new ArrayList<>();
        for (GenerationRequest r : rows) {
            greedy.add(new GenerationRequest(r.promptIds(), SamplingParams.greedy(6), r.key()));
        }
        List<GeneratedText> tight = generator(14, 4, 5, 64, NO_EOS).generate(greedy);
        for (int i = 0; i < rows.size(); i++) {
            assertArrayEquals(
                    UncachedGreedy.continuation(
                            model.graph(), weights, threads, greedy.get(i).promptIds(), 6),
                    tight.get(i).tokens(),
                    "row " + i + " in a tight shared pool");
        }
    }

    @Test
    void rowsAreAdmittedAsTheFreeBlocksAllowNotPreemptedBeforeTheyGenerate() {
        // One new token each: a row needs exactly the blocks of its prompt and that token, which
        // admission checks, so a pool holding about two rows at a time never preempts.
        List<GenerationRequest> rows = rows(SamplingParams.greedy(1));
        int most = 0;
        for (GenerationRequest r : rows) {
            most = Math.max(most, model.graph().kvShape(4).blocksOf(r.promptIds().length + 1));
        }
        int[] preempted = {0};
        Generator.Listener counting = new Generator.Listener() {
            @Override
            public void pass(int activeRows, int decodeTokens, int prefillTokens, int blocksInUse, long nanos) {}

            @Override
            public void preempted() {
                preempted[0]++;
            }
        };
        List<GeneratedText> tight =
                generator(2 * most, 4, 5, 256, NO_EOS, false, counting).generate(rows);
        assertEquals(0, preempted[0]);
        List<GeneratedText> roomy = generator(64, 4, 5, 256, NO_EOS).generate(rows);
        for (int i = 0; i < rows.size(); i++) {
            assertArrayEquals(roomy.get(i).tokens(), tight.get(i).tokens(), "row " + i);
        }
    }

    @Test
    void preemptedRowsAreRecomputedToTheSameTokens() {
        SamplingParams greedy = SamplingParams.greedy(10);
        List<GenerationRequest> rows = rows(greedy);
        List<GeneratedText> roomy = generator(64, 4, 5, 256, NO_EOS).generate(rows);
        // 9 blocks of 4 tokens: each row needs up to 5 blocks, so five active rows cannot all stay.
        List<GeneratedText> tight = generator(9, 4, 5, 256, NO_EOS).generate(rows);
        int preempted = 0;
        for (int i = 0; i < rows.size(); i++) {
            assertArrayEquals(roomy.get(i).tokens(), tight.get(i).tokens(), "row " + i);
            preempted += tight.get(i).preemptions();
            assertEquals(0, roomy.get(i).preemptions());
        }
        assertTrue(preempted > 0, "the tight cache preempted someone");
    }

    @Test
    void sampledTokensDependOnSeedAndKeyNotOnBatchingOrOrder() {
        SamplingParams p = new SamplingParams(0.9, 40, 0.95, 0.01, 1.1, 0, 8, List.of(), 7);
        List<GenerationRequest> rows = rows(p);
        List<GeneratedText> a = generator(64, 4, 3, 8, NO_EOS).generate(rows);
        List<GenerationRequest> shuffled = new ArrayList<>(rows);
        Collections.shuffle(shuffled, new Random(3));
        List<GeneratedText> b = generator(64, 8, 1, 64, NO_EOS).generate(shuffled);
        for (int i = 0; i < shuffled.size(); i++) {
            int original = rows.indexOf(shuffled.get(i));
            assertArrayEquals(
                    a.get(original).tokens(), b.get(i).tokens(), shuffled.get(i).key());
        }
        SamplingParams other = new SamplingParams(0.9, 40, 0.95, 0.01, 1.1, 0, 8, List.of(), 8);
        List<GeneratedText> c = generator(64, 4, 3, 8, NO_EOS).generate(rows(other));
        boolean differs = false;
        for (int i = 0; i < rows.size(); i++) {
            differs |= !Arrays.equals(a.get(i).tokens(), c.get(i).tokens());
        }
        assertTrue(differs, "another seed gives other samples");
    }

    @Test
    void stopStringsAndEndOfSequenceEndARowWithTheRightReasonAndText() {
        List<GenerationRequest> plain = rows(SamplingParams.greedy(8));
        GeneratedText free = generator(64, 4, 2, 64, NO_EOS).generate(plain).get(0);
        String text = free.text();
        // A stop string from the middle of the free text: the text ends just before it.
        String stop = text.substring(Math.max(1, text.length() / 2), Math.max(1, text.length() / 2) + 2);
        int at = text.indexOf(stop);
        SamplingParams withStop = new SamplingParams(0, 0, 1, 0, 1, 0, 8, List.of(stop), 0);
        GeneratedText stopped = generator(64, 4, 2, 64, NO_EOS)
                .generate(List.of(new GenerationRequest(plain.get(0).promptIds(), withStop, "row-0")))
                .get(0);
        assertEquals(GeneratedText.STOP, stopped.finishReason());
        assertEquals(text.substring(0, at), stopped.text());
        assertFalse(stopped.text().contains(stop));
        // The third generated token as an end-of-sequence id: generation stops there, the text leaves it out.
        int eos = free.tokens()[2];
        GeneratedText ended = generator(64, 4, 2, 64, Set.of(eos))
                .generate(List.of(plain.get(0)))
                .get(0);
        int first = 0;
        while (free.tokens()[first] != eos) {
            first++;
        }
        assertEquals(GeneratedText.STOP, ended.finishReason());
        assertArrayEquals(Arrays.copyOf(free.tokens(), first + 1), ended.tokens());
        assertEquals(model.tokenizer().decode(Arrays.copyOf(free.tokens(), first), true), ended.text());
    }

    @Test
    void aStopStringAcrossTokensEndsTheRowAtTheTokenThatCompletesIt() {
        SamplingParams free = SamplingParams.greedy(12);
        int checked = 0;
        for (GenerationRequest row : rows(free)) {
            GeneratedText all =
                    generator(64, 4, 1, 64, NO_EOS).generate(List.of(row)).get(0);
            int[] gen = all.tokens();
            String text = all.text();
            // For each token boundary whose two sides both have text: the stop string is the last
            // character before it and the first after it, so no single token holds it.
            for (int k = 2; k < gen.length - 1; k++) {
                String left = model.tokenizer().decode(Arrays.copyOf(gen, k), true);
                if (left.isEmpty()
                        || left.length() >= text.length()
                        || !text.startsWith(left)
                        || Character.isSurrogate(text.charAt(left.length()))
                        || Character.isSurrogate(left.charAt(left.length() - 1))) {
                    continue;
                }
                String stop = text.substring(left.length() - 1, left.length() + 1);
                int at = text.indexOf(stop);
                // The first k' whose text holds the stop string: generation must end right there.
                int ends = 1;
                while (!model.tokenizer().decode(Arrays.copyOf(gen, ends), true).contains(stop)) {
                    ends++;
                }
                SamplingParams p = new SamplingParams(0, 0, 1, 0, 1, 0, 12, List.of("never-there", stop), 0);
                GeneratedText stopped = generator(64, 4, 1, 64, NO_EOS)
                        .generate(List.of(new GenerationRequest(row.promptIds(), p, row.key())))
                        .get(0);
                assertEquals(GeneratedText.STOP, stopped.finishReason(), stop);
                assertEquals(text.substring(0, at), stopped.text(), "stop '" + stop + "'");
                assertArrayEquals(Arrays.copyOf(gen, ends), stopped.tokens(), "stop '" + stop + "'");
                checked++;
                break;
            }
        }
        assertTrue(checked >= 3, "stop strings across token boundaries checked on " + checked + " rows");
    }

    @Test
    void eachTokensLogProbabilityIsTheModelsBeforeSampling() {
        // Greedy: the chosen token is the argmax, so its log-probability is the largest of the row.
        GeneratedText g = generator(64, 4, 2, 64, NO_EOS)
                .generate(rows(SamplingParams.greedy(6)))
                .get(0);
        assertEquals(g.tokens().length, g.logprobs().length);
        int[] all = Arrays.copyOf(g.promptIds(), g.promptIds().length + g.tokens().length);
        System.arraycopy(g.tokens(), 0, all, g.promptIds().length, g.tokens().length);
        DecoderReference ref = DecoderReference.load(tmp.resolve("llama"));
        double[][] logits = ref.logits(all);
        for (int t = 0; t < g.tokens().length; t++) {
            double want = DecoderReference.logSoftmax(logits[g.promptIds().length - 1 + t])[g.tokens()[t]];
            assertEquals(want, g.logprobs()[t], 1e-3, "token " + t + " against the float64 reference");
            assertTrue(g.logprobs()[t] <= 0);
        }
        // Sampled at a high temperature: still the model's own probability, not the tempered one.
        SamplingParams hot = new SamplingParams(5.0, 0, 1, 0, 1, 0, 6, List.of(), 3);
        GeneratedText s = generator(64, 4, 2, 64, NO_EOS).generate(rows(hot)).get(0);
        int[] sAll = Arrays.copyOf(s.promptIds(), s.promptIds().length + s.tokens().length);
        System.arraycopy(s.tokens(), 0, sAll, s.promptIds().length, s.tokens().length);
        double[] z = ref.logits(sAll)[s.promptIds().length];
        assertEquals(DecoderReference.logSoftmax(z)[s.tokens()[1]], s.logprobs()[1], 1e-3);
    }

    @Test
    void aRowWhoseLogitsAreNotFiniteIsNamedNotSampled() throws Exception {
        // Finite weights (the load check passes): the final norm's gain and the head, each times
        // 1e20, make every logit overflow fp32.
        Path half = dev.attune.testing.ModelCopies.scaled(
                model.directory(), tmp.resolve("overflowing-norm"), "model.norm.weight", 1e20f);
        Path dir = dev.attune.testing.ModelCopies.scaled(half, tmp.resolve("overflowing"), "lm_head.weight", 1e20f);
        try (DecoderModel broken = DecoderModel.load(dir)) {
            LlamaGraph.Resident w = broken.graph().residentOn(new CpuWeights(ComputeDtype.FP32));
            Generator g = new Generator(
                    broken.graph(),
                    w,
                    GeneratorTest::ops,
                    new KvBlockPool(broken.graph().kvShape(4), 16),
                    broken.tokenizer(),
                    NO_EOS,
                    2,
                    64);
            List<GenerationRequest> rows = List.of(
                    new GenerationRequest(broken.tokenize("fine"), SamplingParams.greedy(3), "a"),
                    new GenerationRequest(broken.tokenize("also"), SamplingParams.greedy(3), "b"));
            NonFiniteLogitsException e = assertThrows(NonFiniteLogitsException.class, () -> g.generate(rows));
            assertEquals(0, e.row());
            assertTrue(e.getMessage().startsWith("row 0: the model gave a non-finite logit"), e.getMessage());
            assertTrue(e.getMessage().contains("at generated token 1"), e.getMessage());
        }
    }

    @Test
    void aRowThatCannotFitTheCacheAloneIsNamed() {
        List<GenerationRequest> rows = new ArrayList<>(rows(SamplingParams.greedy(8)));
        rows.add(new GenerationRequest(new int[30], SamplingParams.greedy(8), "long"));
        RowTooLongException e = assertThrows(
                RowTooLongException.class, () -> generator(8, 4, 2, 64, NO_EOS).generate(rows));
        assertEquals(5, e.row());
        assertTrue(
                e.getMessage().contains("30 prompt tokens and up to 8 new ones need 10 KV blocks; the cache holds 8"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> generator(8, 4, 4, 3, NO_EOS));
    }
}
