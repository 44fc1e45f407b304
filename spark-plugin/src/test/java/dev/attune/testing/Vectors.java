package dev.attune.testing;

import java.util.List;

/** Vector comparisons shared by the tests. */
public final class Vectors {

    private Vectors() {}

    /** Cosine similarity, accumulated in double. */
    public static double cosine(float[] a, float[] b) {
        double dot = 0, na = 0, nb = 0;
        for (int c = 0; c < a.length; c++) {
            dot += (double) a[c] * b[c];
            na += (double) a[c] * a[c];
            nb += (double) b[c] * b[c];
        }
        return dot / Math.sqrt(na * nb);
    }

    /** An {@code array<float>} column's value as a float array. */
    public static float[] toArray(List<Float> v) {
        float[] a = new float[v.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = v.get(i);
        }
        return a;
    }
}
