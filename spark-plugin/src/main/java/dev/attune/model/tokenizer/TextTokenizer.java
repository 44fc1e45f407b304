package dev.attune.model.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model's {@code tokenizer.json}, run by the Hugging Face tokenizers library (Rust, through
 * DJL's binding), so WordPiece, byte-level BPE and Unigram tokenize exactly as in Python.
 *
 * <p>Attune pads nothing (rows are packed), adds the special tokens the file's post-processor
 * names, and truncates from the right to {@code maxLength} tokens, special tokens included,
 * whatever padding or truncation the file itself enables.
 *
 * <p>The native library is the CPU build bundled in the DJL jar: before first use this class sets
 * {@code ai.djl.offline=true} and {@code RUST_FLAVOR=cpu} (unless already set), so a GPU node never
 * tries to download a CUDA build.
 *
 * <p>Threading: safe for concurrent {@link #encode} calls. {@link #close} releases the native
 * tokenizer; the owner (a model) closes it when the model is unloaded.
 */
public final class TextTokenizer implements AutoCloseable {

    public static final String FILE = "tokenizer.json";

    static {
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        if (System.getProperty("RUST_FLAVOR") == null) {
            System.setProperty("RUST_FLAVOR", "cpu");
        }
    }

    private final HuggingFaceTokenizer tokenizer;
    private final int maxLength;

    private TextTokenizer(HuggingFaceTokenizer tokenizer, int maxLength) {
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
    }

    /**
     * The largest tokenizer file parsed: real ones are under 40 MiB (a 256k-token vocabulary with its
     * merges is about 33 MiB); a bigger file is refused before the native parser reads it into
     * memory.
     */
    public static final long MAX_FILE_BYTES = 128L << 20;

    /** {@code dir/tokenizer.json}, checked to be a regular file of a plausible size. */
    private static Path file(Path dir) {
        Path f = dir.resolve(FILE);
        if (!Files.isRegularFile(f)) {
            throw new ModelFormatException(dir + ": no " + FILE + " in the model directory");
        }
        long size;
        try {
            size = Files.size(f);
        } catch (IOException e) {
            throw new ModelFormatException(f + ": cannot read: " + e.getMessage(), e);
        }
        if (size > MAX_FILE_BYTES) {
            throw new ModelFormatException(f + ": " + (size >> 20) + " MiB, more than the " + (MAX_FILE_BYTES >> 20)
                    + " MiB a tokenizer file may have (real ones are under 40 MiB); not parsed");
        }
        return f;
    }

    /** Loads {@code dir/tokenizer.json}, truncating to {@code maxLength} tokens. */
    public static TextTokenizer load(Path dir, int maxLength) {
        Path f = file(dir);
        if (maxLength < 2) {
            throw new IllegalArgumentException("maximum length must leave room for special tokens, got " + maxLength);
        }
        try {
            HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(f)
                    .optAddSpecialTokens(true)
                    .optPadding(false)
                    .optTruncation(true)
                    .optMaxLength(maxLength)
                    .build();
            return new TextTokenizer(t, maxLength);
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException(f + ": not a usable tokenizer: " + e.getMessage(), e);
        }
    }

    /**
     * Loads {@code dir/tokenizer.json} for a decoder: special tokens as the file's post-processor
     * adds them, no truncation and no padding whatever the file says (the caller checks lengths
     * against the model's context and decides per row).
     */
    public static TextTokenizer loadUntruncated(Path dir) {
        Path f = file(dir);
        try {
            HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(f)
                    .optAddSpecialTokens(true)
                    .optPadding(false)
                    .optTruncation(false)
                    .build();
            return new TextTokenizer(t, Integer.MAX_VALUE);
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException(f + ": not a usable tokenizer: " + e.getMessage(), e);
        }
    }

    /** Token ids back to text, special tokens skipped or kept; byte-fallback pieces become their bytes. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, skipSpecialTokens);
    }

    public int maxLength() {
        return maxLength;
    }

    /** Tokenizes one text; a null text is tokenized as the empty string. */
    public TokenizedText encode(String text) {
        Encoding e = tokenizer.encode(text == null ? "" : text);
        long[] ids = e.getIds();
        long[] types = e.getTypeIds();
        int[] i = new int[ids.length];
        int[] t = new int[ids.length];
        for (int k = 0; k < ids.length; k++) {
            i[k] = Math.toIntExact(ids[k]);
            t[k] = Math.toIntExact(types[k]);
        }
        return new TokenizedText(i, t, e.exceedMaxLength());
    }

    /** The token strings of a text, for debugging and tests. */
    public String[] tokens(String text) {
        return tokenizer.encode(text == null ? "" : text).getTokens();
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
