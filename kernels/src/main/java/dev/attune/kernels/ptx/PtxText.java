package dev.attune.kernels.ptx;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the module-level facts out of PTX text: the {@code .version} and {@code .target}
 * directives and every {@code .entry} with its {@code .maxntid}. Pure functions of the text;
 * thread-safe. Malformed text is an {@link IllegalArgumentException} saying what is missing.
 *
 * <p>In PTX a kernel is {@code [.visible|.weak] .entry name(params)} followed by optional
 * performance directives ({@code .maxntid}, {@code .reqntid}, {@code .minnctapersm}, ...) and
 * then its body in braces; parameters never contain parentheses or braces.
 */
public final class PtxText {

    private static final Pattern VERSION = Pattern.compile("^\\s*\\.version\\s+(\\d+\\.\\d+)\\b", Pattern.MULTILINE);
    private static final Pattern TARGET = Pattern.compile("^\\s*\\.target\\s+([A-Za-z0-9_]+)", Pattern.MULTILINE);
    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+([A-Za-z_$%][A-Za-z0-9_$]*)");
    private static final Pattern MAXNTID = Pattern.compile("\\.maxntid\\s+(\\d+(?:\\s*,\\s*\\d+){0,2})");
    private static final Pattern COMMENTS = Pattern.compile("//[^\\n]*|/\\*.*?\\*/", Pattern.DOTALL);

    private PtxText() {}

    /** The PTX ISA version the text declares, e.g. {@code "6.0"}. */
    public static String version(String ptx) {
        return single(VERSION, ptx, ".version");
    }

    /** The target the text declares, e.g. {@code "sm_60"} (options after the first target dropped). */
    public static String target(String ptx) {
        return single(TARGET, ptx, ".target");
    }

    /** Every {@code .entry} in file order, each with its {@code .maxntid} if declared. */
    public static List<PtxEntry> entries(String ptx) {
        String text = withoutComments(ptx);
        List<PtxEntry> out = new ArrayList<>();
        Matcher m = ENTRY.matcher(text);
        int from = 0;
        while (m.find(from)) {
            String name = m.group(1);
            int i = m.end();
            while (i < text.length() && Character.isWhitespace(text.charAt(i))) {
                i++;
            }
            if (i < text.length() && text.charAt(i) == '(') {
                int close = text.indexOf(')', i);
                if (close < 0) {
                    throw new IllegalArgumentException("PTX entry " + name + ": parameter list is not closed");
                }
                i = close + 1;
            }
            int body = text.indexOf('{', i);
            if (body < 0) {
                throw new IllegalArgumentException("PTX entry " + name + " has no body");
            }
            List<Integer> maxntid = List.of();
            Matcher n = MAXNTID.matcher(text.substring(i, body));
            if (n.find()) {
                maxntid = Arrays.stream(n.group(1).split(","))
                        .map(String::strip)
                        .map(Integer::valueOf)
                        .toList();
            }
            out.add(new PtxEntry(name, maxntid));
            from = body;
        }
        return out;
    }

    private static String single(Pattern p, String ptx, String directive) {
        Matcher m = p.matcher(withoutComments(ptx));
        if (!m.find()) {
            throw new IllegalArgumentException("not PTX: no " + directive + " directive");
        }
        String value = m.group(1);
        if (m.find()) {
            throw new IllegalArgumentException(
                    "PTX declares " + directive + " twice (" + value + ", " + m.group(1) + ")");
        }
        return value;
    }

    private static String withoutComments(String ptx) {
        return COMMENTS.matcher(ptx).replaceAll(" ");
    }
}
