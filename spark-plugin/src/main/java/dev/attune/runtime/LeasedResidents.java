package dev.attune.runtime;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Long-lived device residents (a model's weights in one dtype), made once per key and shared by
 * concurrent users, each of which holds a {@link Lease} for as long as its work reads the value.
 * A key can be {@linkplain #retire retired}: it leaves the set at once, so new users make a fresh
 * value, and its value is freed when the last lease still holding it closes, never under a
 * running user.
 *
 * <p>Threading: thread-safe. Concurrent first users of a key wait for one {@code make} (as
 * {@link ConcurrentHashMap#computeIfAbsent}). {@code free} runs outside every lock, on the thread
 * that retires the key or closes its last lease.
 *
 * <p>Lifecycle: {@link #close} frees every value still in the set; no lease may be open then.
 *
 * @param <K> the key (compared with {@code equals})
 * @param <V> the resident value
 */
final class LeasedResidents<K, V> implements AutoCloseable {

    private final Function<K, V> make;
    private final Consumer<V> free;
    private final Map<K, Entry<V>> entries = new ConcurrentHashMap<>();

    private static final class Entry<V> {
        final V value;
        // Guarded by this entry.
        int users;
        boolean retired;

        Entry(V value) {
            this.value = value;
        }
    }

    /** One user's hold on a value: the value stays allocated until {@link #close}. */
    final class Lease implements AutoCloseable {
        private final Entry<V> entry;
        private boolean closed;

        private Lease(Entry<V> entry) {
            this.entry = entry;
        }

        V value() {
            return entry.value;
        }

        /** Ends this hold; frees the value if its key was retired and this was its last user. Idempotent. */
        @Override
        public void close() {
            boolean last;
            synchronized (entry) {
                if (closed) {
                    return;
                }
                closed = true;
                entry.users--;
                last = entry.retired && entry.users == 0;
            }
            if (last) {
                free.accept(entry.value);
            }
        }
    }

    /**
     * @param make makes the value of a key (may throw; nothing is kept then)
     * @param free frees a value no user holds any more
     */
    LeasedResidents(Function<K, V> make, Consumer<V> free) {
        this.make = make;
        this.free = free;
    }

    /** A lease on {@code key}'s value, made now if the key has none (or only a retired one). */
    Lease acquire(K key) {
        while (true) {
            Entry<V> e = entries.computeIfAbsent(key, k -> new Entry<>(make.apply(k)));
            synchronized (e) {
                // Retired between the lookup and this lock: it is out of the map already; look again.
                if (!e.retired) {
                    e.users++;
                    return new Lease(e);
                }
            }
        }
    }

    /**
     * Retires {@code key}: later {@link #acquire}s make a new value; the current one is freed now
     * if no lease holds it, else when the last closes. Returns whether the key had a value.
     */
    boolean retire(K key) {
        Entry<V> e = entries.remove(key);
        if (e == null) {
            return false;
        }
        boolean idle;
        synchronized (e) {
            e.retired = true;
            idle = e.users == 0;
        }
        if (idle) {
            free.accept(e.value);
        }
        return true;
    }

    /** Whether {@code key} has a value now (not retired). */
    boolean holds(K key) {
        return entries.containsKey(key);
    }

    /** Frees every value in the set; the first failure is thrown after the others are freed. */
    @Override
    public void close() {
        List<Entry<V>> all = new ArrayList<>(entries.values());
        entries.clear();
        RuntimeException first = null;
        for (Entry<V> e : all) {
            try {
                free.accept(e.value);
            } catch (RuntimeException x) {
                first = first == null ? x : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
