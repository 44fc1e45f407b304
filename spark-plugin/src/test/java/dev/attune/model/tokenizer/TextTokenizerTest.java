package dev.attune.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.model.ModelFormatException;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.testing.TestTexts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real tokenizer of all-MiniLM-L6-v2 (uncased WordPiece on the bert-base-uncased vocabulary)
 * through {@link TextTokenizer}: special tokens, lowercasing and accent stripping, known ids,
 * empty and null texts, truncation to the maximum length with {@code [SEP]} kept, no padding, and
 * refusal of a missing or broken {@code tokenizer.json}.
 */
class TextTokenizerTest {

    private static final int CLS = 101;
    private static final int SEP = 102;
    private static final int UNK = 100;
    private static final int PAD = 0;

    private static Path modelDir;
    private static TextTokenizer tokenizer;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() {
        modelDir = BuiltinModels.resolve("builtin:all-MiniLM-L6-v2");
        tokenizer = TextTokenizer.load(modelDir, 256);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    @Test
    void knownWordPieceIds() {
        assertArrayEquals(
                new int[] {CLS, 7592, 2088, SEP},
                tokenizer.encode("hello world").ids());
        assertArrayEquals(new String[] {"[CLS]", "hello", "world", "[SEP]"}, tokenizer.tokens("hello world"));
        // "don't" splits into three WordPiece tokens; an unknown long word into sub-word pieces.
        assertArrayEquals(new String[] {"[CLS]", "don", "'", "t", "[SEP]"}, tokenizer.tokens("don't"));
        String[] pieces = tokenizer.tokens("supercalifragilisticexpialidocious");
        assertTrue(pieces.length > 3 && pieces[2].startsWith("##"), () -> Arrays.toString(pieces));
    }

    @Test
    void specialTokensFrameEveryText() {
        for (String text : TestTexts.VARIED) {
            int[] ids = tokenizer.encode(text).ids();
            assertTrue(ids.length >= 2, text);
            assertEquals(CLS, ids[0], text);
            assertEquals(SEP, ids[ids.length - 1], text);
            for (int i = 1; i < ids.length - 1; i++) {
                assertNotEquals(CLS, ids[i], text);
                assertNotEquals(SEP, ids[i], text);
            }
        }
    }

    @Test
    void textIsLowercased() {
        int[] lower = tokenizer.encode("hello world").ids();
        assertArrayEquals(lower, tokenizer.encode("Hello World").ids());
        assertArrayEquals(lower, tokenizer.encode("HELLO WORLD").ids());
        assertArrayEquals(
                tokenizer.encode("the quick brown fox").ids(),
                tokenizer.encode("tHe QuIcK bRoWn FoX").ids());
    }

    @Test
    void emptyWhitespaceAndNullGiveOnlySpecialTokens() {
        for (String text : new String[] {"", " ", "   ", "\t\n\r\n", null}) {
            TokenizedText t = tokenizer.encode(text);
            assertArrayEquals(new int[] {CLS, SEP}, t.ids(), String.valueOf(text));
            assertArrayEquals(new int[] {0, 0}, t.typeIds());
            assertFalse(t.truncated());
            assertEquals(2, t.length());
        }
        assertArrayEquals(tokenizer.tokens(""), tokenizer.tokens(null));
    }

    @Test
    void accentsAreStrippedNotUnknown() {
        assertArrayEquals(new int[] {CLS, 7668, SEP}, tokenizer.encode("café").ids());
        assertArrayEquals(
                tokenizer.encode("cafe").ids(), tokenizer.encode("Café").ids());
        assertArrayEquals(new String[] {"[CLS]", "naive", "resume", "[SEP]"}, tokenizer.tokens("naïve résumé"));
        int[] ids = tokenizer
                .encode("Café au lait, crème brûlée et pâté — très français.")
                .ids();
        assertTrue(Arrays.stream(ids).noneMatch(i -> i == UNK), () -> Arrays.toString(ids));
    }

    @Test
    void cjkIsSplitPerCharacter() {
        assertArrayEquals(
                new int[] {CLS, 1864, 1876, 1950, SEP}, tokenizer.encode("日本語").ids());
        assertArrayEquals(new String[] {"[CLS]", "日", "本", "語", "[SEP]"}, tokenizer.tokens("日本語"));
        // One token per ideograph, known or not: 我 is in the vocabulary, 喜 and 欢 are not.
        assertArrayEquals(
                new int[] {CLS, 1855, UNK, UNK, SEP}, tokenizer.encode("我喜欢").ids());
        assertArrayEquals(new int[] {CLS, UNK, SEP}, tokenizer.encode("🙂").ids());
    }

    @Test
    void typeIdsAreAllZero() {
        for (String text : TestTexts.VARIED) {
            TokenizedText t = tokenizer.encode(text);
            assertEquals(t.ids().length, t.typeIds().length, text);
            assertTrue(Arrays.stream(t.typeIds()).allMatch(x -> x == 0), text);
        }
    }

    @Test
    void longTextIsTruncatedToMaxLengthKeepingSep() {
        String text = TestTexts.longParagraph();
        TokenizedText t = tokenizer.encode(text);
        assertEquals(256, tokenizer.maxLength());
        assertEquals(256, t.length());
        assertEquals(CLS, t.ids()[0]);
        assertEquals(SEP, t.ids()[255]);
        assertTrue(t.truncated());
        try (TextTokenizer longer = TextTokenizer.load(modelDir, 512)) {
            TokenizedText u = longer.encode(text);
            assertEquals(512, u.length());
            assertTrue(u.truncated());
            assertEquals(SEP, u.ids()[511]);
            // Truncation keeps the first tokens: the 256-token encoding is a prefix of the 512 one.
            assertArrayEquals(Arrays.copyOf(u.ids(), 255), Arrays.copyOf(t.ids(), 255));
        }
        assertFalse(tokenizer.encode("a short text").truncated());
    }

    @Test
    void maxLengthCountsSpecialTokensExactly() {
        String fourteen = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen";
        try (TextTokenizer t16 = TextTokenizer.load(modelDir, 16)) {
            assertEquals(16, t16.maxLength());
            TokenizedText fits = t16.encode(fourteen);
            assertEquals(16, fits.length());
            assertFalse(fits.truncated());
            TokenizedText cut = t16.encode(fourteen + " fifteen sixteen");
            assertEquals(16, cut.length());
            assertTrue(cut.truncated());
            assertArrayEquals(fits.ids(), cut.ids());
            TokenizedText para = t16.encode(TestTexts.longParagraph());
            assertEquals(16, para.length());
            assertEquals(SEP, para.ids()[15]);
            assertTrue(para.truncated());
        }
    }

    @Test
    void textsOfUnequalLengthsAreNotPadded() {
        List<String> texts = List.of(
                "a",
                TestTexts.longParagraph(),
                "Hello, world!",
                "",
                "The quick brown fox jumps over the lazy dog.",
                "日本語のテキストもちゃんと処理できますか？");
        List<TokenizedText> batch = texts.stream().map(tokenizer::encode).toList();
        try (TextTokenizer fresh = TextTokenizer.load(modelDir, 256)) {
            for (int i = texts.size() - 1; i >= 0; i--) {
                TokenizedText alone = fresh.encode(texts.get(i));
                assertArrayEquals(alone.ids(), batch.get(i).ids(), texts.get(i));
                assertTrue(Arrays.stream(batch.get(i).ids()).noneMatch(id -> id == PAD), texts.get(i));
            }
        }
        assertEquals(3, batch.get(0).length());
        assertEquals(256, batch.get(1).length());
        assertEquals(2, batch.get(3).length());
        assertEquals(12, batch.get(4).length());
    }

    @Test
    void concurrentEncodingGivesTheSameIds() throws Exception {
        List<String> texts = TestTexts.VARIED;
        List<int[]> expected =
                texts.stream().map(t -> tokenizer.encode(t).ids()).toList();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<List<int[]>>> results = new ArrayList<>();
            for (int w = 0; w < 4; w++) {
                results.add(pool.submit(
                        () -> texts.stream().map(t -> tokenizer.encode(t).ids()).toList()));
            }
            for (Future<List<int[]>> r : results) {
                List<int[]> got = r.get();
                for (int i = 0; i < texts.size(); i++) {
                    assertArrayEquals(expected.get(i), got.get(i), texts.get(i));
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void missingTokenizerJsonIsRefused() {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> TextTokenizer.load(tmp, 16));
        assertTrue(
                e.getMessage().contains(tmp.toString()) && e.getMessage().contains("no tokenizer.json"), e::getMessage);
    }

    @Test
    void brokenTokenizerJsonIsRefused() throws IOException {
        Path f = tmp.resolve(TextTokenizer.FILE);
        for (String content : new String[] {"{not json", "", "{}", "[1, 2]"}) {
            Files.writeString(f, content);
            ModelFormatException e =
                    assertThrows(ModelFormatException.class, () -> TextTokenizer.load(tmp, 16), content);
            assertTrue(
                    e.getMessage().contains(f.toString()) && e.getMessage().contains("not a usable tokenizer"),
                    e::getMessage);
        }
    }

    @Test
    void maxLengthWithoutRoomForSpecialTokensIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> TextTokenizer.load(modelDir, 1));
        assertThrows(IllegalArgumentException.class, () -> TextTokenizer.load(modelDir, 0));
    }

    @Test
    void aTokenizerFileOfSeveralHundredMegabytesIsRefusedUnread(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("huge"));
        // A sparse file: 300 MiB long, no disk used; the refusal must come from its size, not a parse.
        try (java.io.RandomAccessFile f =
                new java.io.RandomAccessFile(dir.resolve(TextTokenizer.FILE).toFile(), "rw")) {
            f.setLength(300L << 20);
        }
        long start = System.nanoTime();
        for (java.util.function.Supplier<TextTokenizer> load : List.<java.util.function.Supplier<TextTokenizer>>of(
                () -> TextTokenizer.load(dir, 128), () -> TextTokenizer.loadUntruncated(dir))) {
            ModelFormatException e = assertThrows(ModelFormatException.class, load::get);
            assertTrue(e.getMessage().contains("tokenizer.json: 300 MiB, more than the 128 MiB"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
        assertTrue(System.nanoTime() - start < 2_000_000_000L, "refused without reading the file");
    }
}
