package dev.attune.model.prompt;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A source-to-source pass that turns the Jinja2 syntax jinjava does not parse into forms it does,
 * before the template is handed to jinjava. Only the inside of {@code {{ }}} and {@code {% %}}
 * is touched (outside string literals); text, comments and {@code raw} blocks are copied as they
 * are.
 *
 * <ul>
 *   <li>Slices {@code x[a:b]}, {@code x[a:b:c]}, {@code x[::-1]} become
 *       {@code x.pyslice__(a, b, c)} (missing parts are {@code none}), evaluated with Python's
 *       semantics by {@link PythonMethodsResolver}; jinjava's own {@code [a:b]} has no step.
 *   <li>A unary {@code not} gets Jinja2's precedence, below comparisons and tests:
 *       {@code not x is defined} becomes {@code not (x is defined)}.
 *   <li>Keyword arguments in calls get their value parenthesised, {@code f(i=n - 1)} becomes
 *       {@code f(i=(n - 1))}: jinjava's {@code =} binds tighter than the operators around it.
 *   <li>A single trailing newline of the template is dropped, as Jinja2 does without
 *       {@code keep_trailing_newline}; {@code \r\n} line ends become {@code \n}.
 * </ul>
 *
 * <p>Stateless; safe from any thread. A malformed template (an unterminated tag or string) is
 * copied unchanged from the point where it stops making sense, for jinjava to report.
 */
final class PythonSyntax {

    static final String SLICE_METHOD = "pyslice__";

    private static final Pattern KWARG =
            Pattern.compile("^(\\s*[A-Za-z_][A-Za-z0-9_]*\\s*=)(?!=)(.*)$", Pattern.DOTALL);
    private static final Pattern TAG_NAME = Pattern.compile("^\\s*([A-Za-z_]+)");
    private static final Pattern ENDRAW = Pattern.compile("\\{%[-+]?\\s*endraw\\s*[-+]?%\\}");

    private PythonSyntax() {}

    static String rewrite(String source) {
        String s = source.replace("\r\n", "\n");
        if (s.endsWith("\n")) {
            s = s.substring(0, s.length() - 1);
        }
        StringBuilder out = new StringBuilder(s.length() + 64);
        int i = 0;
        int n = s.length();
        while (i < n) {
            int open = s.indexOf('{', i);
            if (open < 0 || open + 1 >= n) {
                out.append(s, i, n);
                break;
            }
            char kind = s.charAt(open + 1);
            if (kind != '{' && kind != '%' && kind != '#') {
                out.append(s, i, open + 1);
                i = open + 1;
                continue;
            }
            out.append(s, i, open);
            if (kind == '#') {
                int close = s.indexOf("#}", open + 2);
                int end = close < 0 ? n : close + 2;
                out.append(s, open, end);
                i = end;
                continue;
            }
            int bodyStart = open + 2;
            int bodyEnd = findClose(s, bodyStart, kind == '{' ? '}' : '%');
            if (bodyEnd < 0) {
                out.append(s, open, n);
                break;
            }
            // whitespace control ({{- -}}, {%+ ... %}) is not part of the expression
            if (bodyStart < bodyEnd && (s.charAt(bodyStart) == '-' || s.charAt(bodyStart) == '+')) {
                bodyStart++;
            }
            int exprEnd = bodyEnd;
            if (exprEnd > bodyStart && (s.charAt(exprEnd - 1) == '-' || s.charAt(exprEnd - 1) == '+')) {
                exprEnd--;
            }
            String body = s.substring(bodyStart, exprEnd);
            out.append(s, open, bodyStart);
            if (kind == '%') {
                Matcher m = TAG_NAME.matcher(body);
                String tag = m.find() ? m.group(1) : "";
                if (tag.equals("raw")) {
                    Matcher end = ENDRAW.matcher(s);
                    int stop = end.find(bodyEnd) ? end.end() : n;
                    out.append(s, bodyStart, stop);
                    i = stop;
                    continue;
                }
                // a macro's signature declares defaults; jinjava parses that itself
                out.append(rewriteExpression(body, !tag.equals("macro")));
            } else {
                out.append(rewriteExpression(body, true));
            }
            out.append(s, exprEnd, bodyEnd + 2);
            i = bodyEnd + 2;
        }
        return out.toString();
    }

    /** Index of the closing {@code }}} or {@code %}} at bracket depth 0 outside strings, or -1. */
    private static int findClose(String s, int from, char closer) {
        int depth = 0;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                i = skipString(s, i);
                if (i < 0) {
                    return -1;
                }
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
                depth--;
            } else if (c == closer && depth == 0 && i + 1 < s.length() && s.charAt(i + 1) == '}') {
                return i;
            }
        }
        return -1;
    }

    /** Index of the closing quote of the string literal opening at {@code start}, or -1. */
    private static int skipString(String s, int start) {
        char q = s.charAt(start);
        for (int i = start + 1; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\') {
                i++;
            } else if (c == q) {
                return i;
            }
        }
        return -1;
    }

    static String rewriteExpression(String e, boolean kwargs) {
        int[] pos = {0};
        String r = group(e, pos, (char) 0, kwargs);
        return nots(pos[0] >= e.length() ? r : r + e.substring(pos[0]));
    }

    private static final java.util.Set<String> KEYWORDS =
            java.util.Set.of("and", "or", "not", "if", "else", "in", "is", "for", "set", "elif", "print", "do");
    private static final java.util.Set<String> ENDS_NOT = java.util.Set.of("and", "or", "if", "else");

    /**
     * Gives a unary {@code not} Jinja2's precedence, below comparisons and tests: {@code not x is
     * defined} becomes {@code not (x is defined)} (jinjava would read {@code (not x) is defined}).
     * The operand runs to the next {@code and}, {@code or}, {@code if}, {@code else}, comma or
     * colon at the same bracket depth. {@code x not in y} and {@code is not} are left alone.
     */
    static String nots(String e) {
        StringBuilder out = new StringBuilder(e.length() + 8);
        String prev = null; // the previous token: a word, or "" for an operand that is not a word
        int i = 0;
        int n = e.length();
        while (i < n) {
            char c = e.charAt(i);
            if (Character.isWhitespace(c)) {
                out.append(c);
                i++;
            } else if (c == '\'' || c == '"') {
                int end = skipString(e, i);
                int stop = end < 0 ? n : end + 1;
                out.append(e, i, stop);
                i = stop;
                prev = "";
            } else if (c == '(' || c == '[' || c == '{') {
                int close = matching(e, i);
                if (close < 0) {
                    out.append(e, i, n);
                    break;
                }
                out.append(c).append(nots(e.substring(i + 1, close))).append(e.charAt(close));
                i = close + 1;
                prev = "";
            } else if (Character.isLetter(c) || c == '_') {
                int j = i;
                while (j < n && (Character.isLetterOrDigit(e.charAt(j)) || e.charAt(j) == '_')) {
                    j++;
                }
                String w = e.substring(i, j);
                boolean unary = w.equals("not") && (prev == null || (KEYWORDS.contains(prev) && !prev.equals("is")));
                if (unary) {
                    int end = notEnd(e, j);
                    String operand = e.substring(j, end);
                    int trail = operand.length();
                    while (trail > 0 && Character.isWhitespace(operand.charAt(trail - 1))) {
                        trail--;
                    }
                    out.append("not (")
                            .append(nots(operand.substring(0, trail).strip()))
                            .append(')')
                            .append(operand, trail, operand.length());
                    i = end;
                    prev = "";
                } else {
                    out.append(w);
                    i = j;
                    prev = w;
                }
            } else {
                out.append(c);
                i++;
                // an operator: what follows starts a new operand, as after a keyword
                prev = (c == '.') ? "" : (Character.isDigit(c) || c == ')' || c == ']' || c == '}') ? "" : "and";
            }
        }
        return out.toString();
    }

    private static int notEnd(String e, int from) {
        int i = from;
        int n = e.length();
        while (i < n) {
            char c = e.charAt(i);
            if (c == '\'' || c == '"') {
                int end = skipString(e, i);
                if (end < 0) {
                    return n;
                }
                i = end + 1;
            } else if (c == '(' || c == '[' || c == '{') {
                int close = matching(e, i);
                if (close < 0) {
                    return n;
                }
                i = close + 1;
            } else if (c == ',' || c == ':' || c == ')' || c == ']' || c == '}') {
                return i;
            } else if (Character.isLetter(c) || c == '_') {
                int j = i;
                while (j < n && (Character.isLetterOrDigit(e.charAt(j)) || e.charAt(j) == '_')) {
                    j++;
                }
                if (ENDS_NOT.contains(e.substring(i, j)) && (i == 0 || !isWordChar(e.charAt(i - 1)))) {
                    return i;
                }
                i = j;
            } else if (Character.isDigit(c)) {
                while (i < n && (isWordChar(e.charAt(i)) || e.charAt(i) == '.')) {
                    i++;
                }
            } else {
                i++;
            }
        }
        return n;
    }

    private static boolean isWordChar(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }

    /** Index of the bracket closing the one at {@code open}, skipping strings, or -1. */
    private static int matching(String e, int open) {
        int depth = 0;
        for (int i = open; i < e.length(); i++) {
            char c = e.charAt(i);
            if (c == '\'' || c == '"') {
                i = skipString(e, i);
                if (i < 0) {
                    return -1;
                }
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                if (--depth == 0) {
                    return i;
                }
            }
        }
        return -1;
    }

    /**
     * Rewrites from {@code pos} up to (not including) {@code closer}, or to the end when closer is
     * 0, leaving {@code pos} on the closer. Returns the rewritten text of the whole group's
     * content: slices and keyword arguments are rewritten at this group's level.
     */
    private static String group(String e, int[] pos, char closer, boolean kwargs) {
        List<String> parts = new ArrayList<>();
        List<Character> seps = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        int i = pos[0];
        while (i < e.length()) {
            char c = e.charAt(i);
            if (c == closer) {
                break;
            }
            if (c == '\'' || c == '"') {
                int end = skipString(e, i);
                if (end < 0) {
                    cur.append(e, i, e.length());
                    i = e.length();
                    break;
                }
                cur.append(e, i, end + 1);
                i = end + 1;
            } else if (c == '(' || c == '[' || c == '{') {
                char close = c == '(' ? ')' : c == '[' ? ']' : '}';
                int[] p = {i + 1};
                String inner = group(e, p, close, kwargs);
                if (p[0] >= e.length()) {
                    cur.append(c).append(inner);
                    i = e.length();
                    break;
                }
                i = p[0] + 1;
                if (c == '[' && inner.startsWith("\u0000slice:")) {
                    cur.append('.')
                            .append(SLICE_METHOD)
                            .append('(')
                            .append(inner.substring(7))
                            .append(')');
                } else {
                    cur.append(c).append(inner).append(close);
                }
            } else if (closer != 0 && (c == ',' || c == ':')) {
                parts.add(cur.toString());
                seps.add(c);
                cur.setLength(0);
                i++;
            } else {
                cur.append(c);
                i++;
            }
        }
        parts.add(cur.toString());
        pos[0] = i;
        if (closer == ']' && seps.contains(':') && !seps.contains(',') && seps.size() <= 2) {
            StringBuilder a = new StringBuilder("\u0000slice:");
            for (int k = 0; k < 3; k++) {
                String p = k < parts.size() ? parts.get(k).strip() : "";
                a.append(k > 0 ? ", " : "").append(p.isEmpty() ? "none" : "(" + p + ")");
            }
            return a.toString();
        }
        StringBuilder out = new StringBuilder();
        for (int k = 0; k < parts.size(); k++) {
            String p = parts.get(k);
            if (closer == ')' && kwargs && (k == 0 || seps.get(k - 1) == ',')) {
                Matcher m = KWARG.matcher(p);
                if (m.matches() && !m.group(2).isBlank()) {
                    p = m.group(1) + "(" + m.group(2) + ")";
                }
            }
            out.append(p);
            if (k < seps.size()) {
                out.append(seps.get(k));
            }
        }
        return out.toString();
    }
}
