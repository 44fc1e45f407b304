package dev.attune.testing;

import java.util.ArrayDeque;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/** Spark wraps task and startup failures several layers deep: helpers to read the whole chain. */
public final class Causes {

    private Causes() {}

    /** Every class name and message of the cause chain (and suppressed exceptions), one per line. */
    public static String chain(Throwable e) {
        StringBuilder b = new StringBuilder();
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        ArrayDeque<Throwable> todo = new ArrayDeque<>();
        todo.add(e);
        while (!todo.isEmpty()) {
            Throwable t = todo.poll();
            if (!seen.add(t)) {
                continue;
            }
            b.append(t.getClass().getName()).append(": ").append(t.getMessage()).append('\n');
            if (t.getCause() != null) {
                todo.add(t.getCause());
            }
            todo.addAll(List.of(t.getSuppressed()));
        }
        return b.toString();
    }

    /** Whether one message in the chain contains every one of {@code parts}. */
    public static boolean oneMessageContainsAll(Throwable e, String... parts) {
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        ArrayDeque<Throwable> todo = new ArrayDeque<>();
        todo.add(e);
        while (!todo.isEmpty()) {
            Throwable t = todo.poll();
            if (!seen.add(t)) {
                continue;
            }
            String m = String.valueOf(t.getMessage());
            boolean all = true;
            for (String p : parts) {
                all &= m.contains(p);
            }
            if (all) {
                return true;
            }
            if (t.getCause() != null) {
                todo.add(t.getCause());
            }
            todo.addAll(List.of(t.getSuppressed()));
        }
        return false;
    }
}
