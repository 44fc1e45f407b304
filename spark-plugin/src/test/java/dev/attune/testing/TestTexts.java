package dev.attune.testing;

import java.util.ArrayList;
import java.util.List;

/** Varied real-world texts for model tests: accents, CJK, emoji, punctuation, very short and long, mixed case. */
public final class TestTexts {

    private TestTexts() {}

    public static final List<String> VARIED = List.of(
            "Hello, world!",
            "a",
            "I",
            "?",
            "OK",
            "The quick brown fox jumps over the lazy dog.",
            "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
            "tHe QuIcK bRoWn FoX",
            "Café au lait, crème brûlée et pâté — très français.",
            "Ångström, naïve, façade, coöperate, résumé, Zürich, São Paulo.",
            "Schöne Grüße aus München! Straße, Mädchen, Übung.",
            "El niño comió piñata en la señal de mañana.",
            "日本語のテキストもちゃんと処理できますか？",
            "我喜欢在周末去公园散步。",
            "한국어 문장도 테스트합니다.",
            "Русский текст: съешь же ещё этих мягких французских булок.",
            "Ελληνικά: γειά σου κόσμε.",
            "עברית: שלום עולם",
            "العربية: مرحبا بالعالم",
            "हिन्दी में एक वाक्य।",
            "Emoji time 🎉🚀🔥 with a 👍 and a 🤖.",
            "🙂",
            "Mixed: Hello 世界 🌍 café!",
            "Punctuation!!! ??? ... ;;; ::: --- ___ *** ### @@@",
            "\"Quoted\" 'single' (parens) [brackets] {braces} <angles>",
            "URLs like https://example.com/path?q=1&r=2#frag and emails a.b@c.org",
            "Numbers: 3.14159, 2,718, 1e-10, -42, 0x1F, 100%.",
            "C++ and C# and F# are languages; so is Java 17.",
            "   leading and trailing spaces   ",
            "tabs\tand\nnewlines\r\nin text",
            "don't won't can't shouldn't y'all'd've",
            "supercalifragilisticexpialidocious antidisestablishmentarianism",
            "Machine learning models transform text into dense vectors.",
            "Sentence embeddings are useful for semantic search and clustering.",
            "The GPU ran out of memory while computing attention on long inputs.",
            "FlashAttention only supports Ampere GPUs or newer.",
            "A T4 and an A100 can share one Spark job.",
            "What is the capital of France?",
            "Paris is the capital and most populous city of France.",
            "How do I reset my password?",
            "To reset your password, click 'Forgot password' on the login page.",
            "I love this product, it works great!",
            "Terrible experience, would not recommend.",
            "The weather today is sunny with a chance of rain in the evening.",
            "Stock markets fell sharply after the announcement.",
            "She sells sea shells by the sea shore.",
            "1234567890",
            "lowercase only text here",
            "UPPERCASE ONLY TEXT HERE",
            "MiXeD CaSe WiTh NuMbErS 123 AnD sYmBoLs !@#",
            "x".repeat(50),
            "word ".repeat(40).trim(),
            String.join(" ", java.util.Collections.nCopies(30, "Spark executors probe their GPUs and pick a kernel.")),
            longParagraph(),
            "Zero\u200Bwidth\u200Bspace and non\u00A0breaking\u00A0space.",
            "Ligatures ﬁ ﬂ and full-width ＡＢＣ１２３",
            "Math: ∑ x² + √y ≈ ∞, α β γ δ.",
            "Currency: $100, €50, £30, ¥1000, ₹500.",
            "End.");

    /** A paragraph well over 512 tokens, to exercise truncation. */
    public static String longParagraph() {
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < 120; i++) {
            parts.add("Sentence number " + i + " talks about distributed inference, attention kernels and memory.");
        }
        return String.join(" ", parts);
    }
}
