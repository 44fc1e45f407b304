package dev.attune.model.prompt;

import com.hubspot.jinjava.el.ext.NamedParameter;
import com.hubspot.jinjava.objects.SafeString;
import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELException;
import jinjava.javax.el.ELResolver;

/**
 * Gives template values the Python methods Hugging Face chat templates call, with Python's
 * semantics: on strings {@code startswith}, {@code endswith}, {@code strip}, {@code lstrip},
 * {@code rstrip}, {@code split}, {@code rsplit}, {@code splitlines}, {@code replace},
 * {@code upper}, {@code lower}, {@code capitalize}, {@code title}, {@code find}, {@code rfind},
 * {@code count}, {@code join}, {@code removeprefix}, {@code removesuffix} and the {@code is...}
 * predicates; on dicts {@code get}, {@code items}, {@code keys}, {@code values}; and slicing with
 * a step on strings and sequences ({@link PythonSyntax} rewrites {@code x[a:b:c]} into a call of
 * {@link PythonSyntax#SLICE_METHOD}). Strings are indexed by code point, as in Python.
 *
 * <p>It sits in front of jinjava's own resolvers and answers only those calls; everything else
 * falls through. Read-only and stateless: safe from any thread. A bad argument is an
 * {@link ELException} naming the method, which jinjava reports as a template error.
 */
final class PythonMethodsResolver extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (base == null || method == null) {
            return null;
        }
        String name = method.toString();
        Object[] args = params == null ? new Object[0] : params;
        Object b = base instanceof SafeString ? base.toString() : base;
        Object result;
        if (name.equals(PythonSyntax.SLICE_METHOD)) {
            result = slice(b, args);
        } else if (b instanceof String) {
            result = stringMethod((String) b, name, args);
        } else if (b instanceof Map) {
            result = mapMethod((Map<?, ?>) b, name, args);
        } else {
            return null;
        }
        if (result == NOT_HANDLED) {
            return null;
        }
        context.setPropertyResolved(true);
        return result;
    }

    private static final Object NOT_HANDLED = new Object();

    // ---- slices ----

    private static Object slice(Object base, Object[] args) {
        if (args.length != 3) {
            throw new ELException("slice takes start, stop and step");
        }
        if (base instanceof String) {
            int[] cps = ((String) base).codePoints().toArray();
            int[] idx = indices(cps.length, args);
            StringBuilder sb = new StringBuilder();
            for (int i = idx[0], k = 0; k < idx[3]; k++, i += idx[2]) {
                sb.appendCodePoint(cps[i]);
            }
            return sb.toString();
        }
        List<Object> items = asList(base);
        if (items == null) {
            throw new ELException("cannot slice a " + base.getClass().getSimpleName());
        }
        int[] idx = indices(items.size(), args);
        List<Object> out = new ArrayList<>(idx[3]);
        for (int i = idx[0], k = 0; k < idx[3]; k++, i += idx[2]) {
            out.add(items.get(i));
        }
        return out;
    }

    private static List<Object> asList(Object base) {
        if (base instanceof List) {
            @SuppressWarnings("unchecked")
            List<Object> l = (List<Object>) base;
            return l;
        }
        if (base instanceof Object[]) {
            return Arrays.asList((Object[]) base);
        }
        if (base instanceof Collection) {
            return new ArrayList<>((Collection<?>) base);
        }
        return null;
    }

    /** Python's slice.indices plus the resulting length: {start, stop, step, length}. */
    static int[] indices(int len, Object[] args) {
        Long step = intArg(args[2], "slice step");
        int st = step == null ? 1 : Math.toIntExact(Math.max(Integer.MIN_VALUE + 1, Math.min(Integer.MAX_VALUE, step)));
        if (st == 0) {
            throw new ELException("slice step cannot be zero");
        }
        Long a = intArg(args[0], "slice start");
        Long b = intArg(args[1], "slice stop");
        long start;
        long stop;
        if (st > 0) {
            start = a == null ? 0 : clamp(a, len, 0, len);
            stop = b == null ? len : clamp(b, len, 0, len);
        } else {
            start = a == null ? len - 1 : clamp(a, len, -1, len - 1);
            stop = b == null ? -1 : clamp(b, len, -1, len - 1);
        }
        long n;
        if (st > 0) {
            n = stop > start ? (stop - start + st - 1) / st : 0;
        } else {
            n = start > stop ? (start - stop + (-st) - 1) / (-st) : 0;
        }
        return new int[] {(int) start, (int) stop, st, (int) n};
    }

    private static long clamp(long v, int len, long lo, long hi) {
        if (v < 0) {
            v += len;
            return v < lo ? lo : v;
        }
        return v > hi ? hi : v;
    }

    private static Long intArg(Object o, String what) {
        if (o == null) {
            return null;
        }
        if (o instanceof Integer || o instanceof Long || o instanceof Short || o instanceof Byte) {
            return ((Number) o).longValue();
        }
        if (o instanceof Boolean) {
            return ((Boolean) o) ? 1L : 0L;
        }
        throw new ELException(what + " must be an integer or none, got " + o);
    }

    // ---- dict methods ----

    private static Object mapMethod(Map<?, ?> map, String name, Object[] args) {
        switch (name) {
            case "get":
                if (args.length < 1 || args.length > 2) {
                    throw new ELException("get() takes a key and an optional default");
                }
                Object key = plain(args[0]);
                return map.containsKey(key) ? map.get(key) : args.length == 2 ? plain(args[1]) : null;
            case "items": {
                List<Object> out = new ArrayList<>(map.size());
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    out.add(Arrays.asList(e.getKey(), e.getValue()));
                }
                return out;
            }
            case "keys":
                return new ArrayList<>(map.keySet());
            case "values":
                return new ArrayList<>(map.values());
            default:
                return NOT_HANDLED;
        }
    }

    // ---- str methods ----

    private static Object stringMethod(String s, String name, Object[] raw) {
        Object[] a = new Object[raw.length];
        for (int i = 0; i < raw.length; i++) {
            a[i] = plain(raw[i]);
        }
        switch (name) {
            case "startswith":
            case "endswith": {
                argCount(name, a, 1, 3);
                String sub = s;
                if (a.length > 1) {
                    int[] cps = s.codePoints().toArray();
                    int[] idx = indices(cps.length, new Object[] {a[1], a.length > 2 ? a[2] : null, null});
                    sub = new String(cps, idx[0], idx[3]);
                }
                List<String> options = new ArrayList<>();
                if (a[0] instanceof Collection) {
                    for (Object o : (Collection<?>) a[0]) {
                        options.add(str(name, o));
                    }
                } else {
                    options.add(str(name, a[0]));
                }
                for (String o : options) {
                    if (name.equals("startswith") ? sub.startsWith(o) : sub.endsWith(o)) {
                        return true;
                    }
                }
                return false;
            }
            case "strip":
                argCount(name, a, 0, 1);
                return strip(s, chars(name, a), true, true);
            case "lstrip":
                argCount(name, a, 0, 1);
                return strip(s, chars(name, a), true, false);
            case "rstrip":
                argCount(name, a, 0, 1);
                return strip(s, chars(name, a), false, true);
            case "split":
            case "rsplit": {
                Object sep = named(raw, "sep", a.length > 0 && !(raw[0] instanceof NamedParameter) ? a[0] : null);
                Object max = named(raw, "maxsplit", a.length > 1 && !(raw[1] instanceof NamedParameter) ? a[1] : null);
                Long m = intArg(max, name + " maxsplit");
                int maxsplit = m == null || m < 0 ? Integer.MAX_VALUE : (int) Math.min(m, Integer.MAX_VALUE);
                if (sep == null) {
                    return name.equals("split") ? splitWhitespace(s, maxsplit) : rsplitWhitespace(s, maxsplit);
                }
                String p = str(name, sep);
                if (p.isEmpty()) {
                    throw new ELException(name + "(): empty separator");
                }
                return name.equals("split") ? split(s, p, maxsplit) : rsplit(s, p, maxsplit);
            }
            case "splitlines":
                argCount(name, a, 0, 1);
                return splitlines(s, a.length > 0 && Boolean.TRUE.equals(a[0]));
            case "replace": {
                argCount(name, a, 2, 3);
                String old = str(name, a[0]);
                String rep = str(name, a[1]);
                Long c = a.length > 2 ? intArg(a[2], "replace count") : null;
                return replace(s, old, rep, c == null || c < 0 ? Long.MAX_VALUE : c);
            }
            case "upper":
                argCount(name, a, 0, 0);
                return s.toUpperCase(Locale.ROOT);
            case "lower":
                argCount(name, a, 0, 0);
                return s.toLowerCase(Locale.ROOT);
            case "capitalize": {
                argCount(name, a, 0, 0);
                if (s.isEmpty()) {
                    return s;
                }
                int first = s.codePointAt(0);
                int w = Character.charCount(first);
                return titleOf(first) + s.substring(w).toLowerCase(Locale.ROOT);
            }
            case "title": {
                argCount(name, a, 0, 0);
                StringBuilder sb = new StringBuilder(s.length());
                boolean prevCased = false;
                for (int i = 0; i < s.length(); ) {
                    int cp = s.codePointAt(i);
                    i += Character.charCount(cp);
                    if (prevCased) {
                        sb.append(new String(Character.toChars(cp)).toLowerCase(Locale.ROOT));
                    } else {
                        sb.append(titleOf(cp));
                    }
                    prevCased = Character.isLetter(cp)
                            && (Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp));
                }
                return sb.toString();
            }
            case "find":
            case "rfind":
            case "count": {
                argCount(name, a, 1, 3);
                int[] cps = s.codePoints().toArray();
                int[] idx = indices(
                        cps.length, new Object[] {a.length > 1 ? a[1] : null, a.length > 2 ? a[2] : null, null});
                String sub = new String(cps, idx[0], idx[3]);
                String needle = str(name, a[0]);
                if (name.equals("count")) {
                    if (needle.isEmpty()) {
                        return (long) sub.codePointCount(0, sub.length()) + 1;
                    }
                    long c = 0;
                    for (int i = sub.indexOf(needle); i >= 0; i = sub.indexOf(needle, i + needle.length())) {
                        c++;
                    }
                    return c;
                }
                int at = name.equals("find") ? sub.indexOf(needle) : sub.lastIndexOf(needle);
                return at < 0 ? -1L : (long) (idx[0] + sub.codePointCount(0, at));
            }
            case "join": {
                argCount(name, a, 1, 1);
                Iterable<?> items = a[0] instanceof Iterable
                        ? (Iterable<?>) a[0]
                        : a[0] instanceof Object[] ? Arrays.asList((Object[]) a[0]) : null;
                if (items == null) {
                    throw new ELException("join() takes a sequence of strings");
                }
                StringBuilder sb = new StringBuilder();
                Iterator<?> it = items.iterator();
                while (it.hasNext()) {
                    sb.append(str(name, plain(it.next())));
                    if (it.hasNext()) {
                        sb.append(s);
                    }
                }
                return sb.toString();
            }
            case "removeprefix":
                argCount(name, a, 1, 1);
                return s.startsWith(str(name, a[0]))
                        ? s.substring(str(name, a[0]).length())
                        : s;
            case "removesuffix":
                argCount(name, a, 1, 1);
                return s.endsWith(str(name, a[0])) && !str(name, a[0]).isEmpty()
                        ? s.substring(0, s.length() - str(name, a[0]).length())
                        : s;
            case "isspace":
                return !s.isEmpty() && s.codePoints().allMatch(PythonMethodsResolver::isSpace);
            case "isdigit":
                return !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha":
                return !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum":
                return !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isupper":
                return s.codePoints().anyMatch(Character::isUpperCase)
                        && s.codePoints().noneMatch(Character::isLowerCase);
            case "islower":
                return s.codePoints().anyMatch(Character::isLowerCase)
                        && s.codePoints().noneMatch(Character::isUpperCase);
            default:
                return NOT_HANDLED;
        }
    }

    /** Python's title case of one code point, full mapping included: {@code ß} is {@code Ss}. */
    private static String titleOf(int cp) {
        String upper = new String(Character.toChars(cp)).toUpperCase(Locale.ROOT);
        if (upper.codePointCount(0, upper.length()) <= 1) {
            return new String(Character.toChars(Character.toTitleCase(cp)));
        }
        int w = Character.charCount(upper.codePointAt(0));
        return upper.substring(0, w) + upper.substring(w).toLowerCase(Locale.ROOT);
    }

    private static Object plain(Object o) {
        if (o instanceof NamedParameter) {
            return ((NamedParameter) o).getValue();
        }
        return o instanceof SafeString ? o.toString() : o;
    }

    private static Object named(Object[] raw, String name, Object positional) {
        for (Object o : raw) {
            if (o instanceof NamedParameter && ((NamedParameter) o).getName().equals(name)) {
                return plain(o);
            }
        }
        return positional;
    }

    private static void argCount(String name, Object[] a, int min, int max) {
        if (a.length < min || a.length > max) {
            throw new ELException(
                    name + "() takes " + (min == max ? "" + min : min + " to " + max) + " arguments, got " + a.length);
        }
    }

    private static String str(String method, Object o) {
        if (o instanceof String) {
            return (String) o;
        }
        throw new ELException(method + "(): expected a string, got " + (o == null ? "none" : o));
    }

    private static String chars(String method, Object[] a) {
        return a.length == 0 || a[0] == null ? null : str(method, a[0]);
    }

    /** Python's str.isspace for one code point. */
    static boolean isSpace(int cp) {
        return Character.isWhitespace(cp) || Character.isSpaceChar(cp) || cp == 0x85;
    }

    static String strip(String s, String chars, boolean left, boolean right) {
        int[] cps = s.codePoints().toArray();
        int from = 0;
        int to = cps.length;
        if (left) {
            while (from < to && stripped(cps[from], chars)) {
                from++;
            }
        }
        if (right) {
            while (to > from && stripped(cps[to - 1], chars)) {
                to--;
            }
        }
        return new String(cps, from, to - from);
    }

    private static boolean stripped(int cp, String chars) {
        return chars == null ? isSpace(cp) : chars.codePoints().anyMatch(c -> c == cp);
    }

    private static List<Object> split(String s, String sep, int maxsplit) {
        List<Object> out = new ArrayList<>();
        int from = 0;
        int at;
        while (out.size() < maxsplit && (at = s.indexOf(sep, from)) >= 0) {
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static List<Object> rsplit(String s, String sep, int maxsplit) {
        List<Object> out = new ArrayList<>();
        int to = s.length();
        int splits = 0;
        int at;
        while (splits < maxsplit && to >= sep.length() && (at = s.lastIndexOf(sep, to - sep.length())) >= 0) {
            out.add(0, s.substring(at + sep.length(), to));
            to = at;
            splits++;
        }
        out.add(0, s.substring(0, to));
        return out;
    }

    private static List<Object> splitWhitespace(String s, int maxsplit) {
        List<Object> out = new ArrayList<>();
        int[] cps = s.codePoints().toArray();
        int i = 0;
        while (true) {
            while (i < cps.length && isSpace(cps[i])) {
                i++;
            }
            if (i >= cps.length) {
                break;
            }
            if (out.size() == maxsplit) {
                int end = cps.length;
                while (end > i && isSpace(cps[end - 1])) {
                    end--;
                }
                out.add(new String(cps, i, end - i));
                break;
            }
            int start = i;
            while (i < cps.length && !isSpace(cps[i])) {
                i++;
            }
            out.add(new String(cps, start, i - start));
        }
        return out;
    }

    private static List<Object> rsplitWhitespace(String s, int maxsplit) {
        List<Object> out = new ArrayList<>();
        int[] cps = s.codePoints().toArray();
        int i = cps.length;
        while (true) {
            while (i > 0 && isSpace(cps[i - 1])) {
                i--;
            }
            if (i <= 0) {
                break;
            }
            if (out.size() == maxsplit) {
                int start = 0;
                while (start < i && isSpace(cps[start])) {
                    start++;
                }
                out.add(0, new String(cps, start, i - start));
                break;
            }
            int end = i;
            while (i > 0 && !isSpace(cps[i - 1])) {
                i--;
            }
            out.add(0, new String(cps, i, end - i));
        }
        return out;
    }

    private static List<Object> splitlines(String s, boolean keepends) {
        List<Object> out = new ArrayList<>();
        int start = 0;
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            int brk = 0;
            if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
                brk = 2;
            } else if (c == '\n'
                    || c == '\r'
                    || c == 0x0b
                    || c == 0x0c
                    || c == 0x1c
                    || c == 0x1d
                    || c == 0x1e
                    || c == 0x85
                    || c == 0x2028
                    || c == 0x2029) {
                brk = 1;
            }
            if (brk > 0) {
                out.add(s.substring(start, keepends ? i + brk : i));
                i += brk;
                start = i;
            } else {
                i++;
            }
        }
        if (start < s.length()) {
            out.add(s.substring(start));
        }
        return out;
    }

    private static String replace(String s, String old, String rep, long count) {
        if (old.isEmpty()) {
            StringBuilder sb = new StringBuilder();
            long done = 0;
            int i = 0;
            while (i <= s.length()) {
                if (done < count) {
                    sb.append(rep);
                    done++;
                }
                if (i == s.length()) {
                    break;
                }
                int cp = s.codePointAt(i);
                sb.appendCodePoint(cp);
                i += Character.charCount(cp);
            }
            return sb.toString();
        }
        StringBuilder sb = new StringBuilder();
        int from = 0;
        long done = 0;
        int at;
        while (done < count && (at = s.indexOf(old, from)) >= 0) {
            sb.append(s, from, at).append(rep);
            from = at + old.length();
            done++;
        }
        return sb.append(s, from, s.length()).toString();
    }

    // ---- the rest of ELResolver: nothing to resolve here ----

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {}

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
