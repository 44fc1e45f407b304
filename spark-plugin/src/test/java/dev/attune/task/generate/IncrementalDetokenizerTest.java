package dev.attune.task.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.tokenizer.TextTokenizer;
import dev.attune.testing.TestTexts;
import dev.attune.testing.decoder.TestTokenizers;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link IncrementalDetokenizer} on the real Llama 2 (SentencePiece with byte fallback), Llama 3
 * and Qwen (byte-level BPE) tokenizers: fed one token at a time, the text it emits is exactly the
 * decode of the whole sequence, for real texts (accents, CJK, emoji split into byte tokens,
 * newlines, runs of spaces) and for random token ids (whose last character may be cut short: the
 * emitted text is then the whole decode up to it). Llama 2's random ids are well-formed byte
 * sequences: its byte fallback turns a whole run of byte tokens into U+FFFD when the run is not
 * valid UTF-8, rewriting text already emitted (the generator then takes its text from the whole
 * decode).
 */
class IncrementalDetokenizerTest {

    static final List<String> TEXTS = List.of(
            "The quick brown fox jumps over the lazy dog.",
            " leading space and  two  spaces",
            "naïve café — 東京 🚀 emoji and accents 👩‍👩‍👧",
            "line one\nline two\n\n  indented\ttab",
            "数学の問題: 3 + 4 = 7、そして 😀😃😄",
            "");

    static int[] generatedLike(TextTokenizer t, String text) {
        // The text's ids without the special tokens the post-processor adds, as a model emits them.
        int[] ids = t.encode(text).ids();
        return Arrays.stream(ids)
                .filter(id -> !t.decode(new int[] {id}, true).isEmpty()
                        || t.decode(new int[] {id}, false).isEmpty())
                .toArray();
    }

    static String streamed(TextTokenizer t, int[] ids) {
        IncrementalDetokenizer d = new IncrementalDetokenizer(t);
        StringBuilder out = new StringBuilder();
        for (int n = 1; n <= ids.length; n++) {
            out.append(d.append(Arrays.copyOf(ids, n)));
        }
        assertEquals(out.toString(), d.text().toString());
        return out.toString();
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama2", "llama3", "qwen3"})
    void tokenByTokenTextEqualsTheWholeDecode(String name) {
        try (TextTokenizer t = TextTokenizer.loadUntruncated(TestTokenizers.dir(name))) {
            List<String> texts = new ArrayList<>(TEXTS);
            texts.addAll(TestTexts.VARIED);
            int multiByte = 0;
            for (String text : texts) {
                int[] ids = generatedLike(t, text);
                String whole = t.decode(ids, true);
                assertEquals(whole, streamed(t, ids), name + ": " + text);
                multiByte += whole.codePoints().anyMatch(c -> c > 0xFFFF) ? 1 : 0;
            }
            assertTrue(multiByte >= 2, "texts with characters split over byte tokens are covered");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama2", "llama3", "qwen3"})
    void randomTokensEmitTheWholeDecodeUpToAnUnfinishedCharacter(String name) {
        try (TextTokenizer t = TextTokenizer.loadUntruncated(TestTokenizers.dir(name))) {
            SplittableRandom rng = new SplittableRandom(20261204L);
            int vocab = name.equals("llama2") ? 32000 : 128000;
            for (int trial = 0; trial < 40; trial++) {
                List<Integer> list = new ArrayList<>();
                int n = 1 + rng.nextInt(40);
                while (list.size() < n) {
                    if (name.equals("llama2") && rng.nextBoolean()) {
                        // A character as Llama 2's byte-fallback tokens (<0x00> is id 3).
                        int cp = rng.nextBoolean() ? 0x80 + rng.nextInt(0x780) : 0x1F300 + rng.nextInt(0x300);
                        byte[] b = new String(Character.toChars(cp)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                        for (byte x : b) {
                            list.add(3 + (x & 0xFF));
                        }
                    } else {
                        list.add(name.equals("llama2") ? 259 + rng.nextInt(vocab - 259) : rng.nextInt(vocab));
                    }
                }
                // Llama 2's characters stay whole: its byte fallback would rewrite a run of byte
                // tokens that ends in a cut character wholesale (see above).
                int[] ids = list.subList(0, name.equals("llama2") ? list.size() : n).stream()
                        .mapToInt(Integer::intValue)
                        .toArray();
                String whole = t.decode(ids, true);
                String got = streamed(t, ids);
                assertTrue(whole.startsWith(got), name + " " + Arrays.toString(ids) + ": " + got + " | " + whole);
                String rest = whole.substring(got.length());
                assertTrue(
                        rest.isEmpty() || rest.endsWith("\uFFFD"),
                        name + " " + Arrays.toString(ids) + ": held back '" + rest + "'");
            }
        }
    }
}
