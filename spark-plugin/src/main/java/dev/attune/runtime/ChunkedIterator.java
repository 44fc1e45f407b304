package dev.attune.runtime;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Streams a partition in chunks: reads up to {@code chunk} inputs, maps the whole chunk at once
 * (so its rows can be batched by length), and hands the results out one by one before reading
 * the next chunk. A partition is never held whole; results keep the input order.
 *
 * @param <I> input row type
 * @param <O> output row type
 */
public final class ChunkedIterator<I, O> implements Iterator<O> {

    /** Maps one chunk; {@code firstPosition} is the partition position of its first row. */
    @FunctionalInterface
    public interface ChunkMapper<I, O> {
        List<O> map(List<I> chunk, long firstPosition);
    }

    private final Iterator<I> input;
    private final int chunk;
    private final ChunkMapper<I, O> mapper;
    private List<O> out = List.of();
    private int next;
    private long position;

    public ChunkedIterator(Iterator<I> input, int chunk, ChunkMapper<I, O> mapper) {
        this.input = input;
        this.chunk = chunk;
        this.mapper = mapper;
    }

    @Override
    public boolean hasNext() {
        if (next < out.size()) {
            return true;
        }
        List<I> in = new ArrayList<>(chunk);
        while (in.size() < chunk && input.hasNext()) {
            in.add(input.next());
        }
        if (in.isEmpty()) {
            return false;
        }
        out = mapper.map(in, position);
        next = 0;
        position += in.size();
        return true;
    }

    @Override
    public O next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        return out.get(next++);
    }
}
