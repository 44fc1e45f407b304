package dev.attune.kernels.cpu;

/**
 * A high-precision erf/erfc in double for tests, independent of the kernels' approximation:
 * the series {@code erf(x) = 2/sqrt(pi) · exp(-x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))} (all terms
 * positive, so no cancellation) below 3, and the continued fraction
 * {@code erfc(x) = exp(-x²)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + …))))} from 3 up.
 * Relative error is around 1e-15 for erf and for erfc.
 */
final class ErfReference {

    private static final double TWO_OVER_SQRT_PI = 1.1283791670955126;
    private static final double ONE_OVER_SQRT_PI = 0.5641895835477563;

    private ErfReference() {}

    static double erf(double x) {
        if (Double.isNaN(x)) {
            return Double.NaN;
        }
        double a = Math.abs(x);
        double r = a < 3 ? series(a) : 1 - continuedFraction(a);
        return x < 0 ? -r : r;
    }

    /** {@code 1 - erf(x)}, accurate in relative terms also where it is tiny. */
    static double erfc(double x) {
        if (x < 0) {
            return 2 - erfc(-x);
        }
        return x < 3 ? 1 - series(x) : continuedFraction(x);
    }

    /** GELU with the exact erf: {@code 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2)}. */
    static double gelu(double x) {
        if (Double.isNaN(x)) {
            return Double.NaN;
        }
        return 0.5 * x * erfc(-x / Math.sqrt(2));
    }

    private static double series(double x) {
        double x2 = x * x;
        double term = x;
        double sum = x;
        for (int n = 1; n < 200; n++) {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
            if (term < sum * 1e-18) {
                break;
            }
        }
        return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
    }

    private static double continuedFraction(double x) {
        double k = x;
        for (int n = 120; n >= 1; n--) {
            k = x + (n / 2.0) / k;
        }
        return ONE_OVER_SQRT_PI * Math.exp(-x * x) / k;
    }
}
