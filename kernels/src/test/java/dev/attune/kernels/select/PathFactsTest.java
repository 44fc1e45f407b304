package dev.attune.kernels.select;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.attention.MaskKind;
import dev.attune.kernels.device.ComputeCapability;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.kernels.device.SimulatedDevices;
import java.util.EnumSet;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Each fact a path declares refuses the work it does not cover, with a reason naming it; the
 * selector reads the facts of the shipped paths (a request a path's facts refuse is passed over
 * with that reason); a request validates its K/V heads.
 */
class PathFactsTest {

    private static final DeviceInfo A100 = SimulatedDevices.get("A100", 0);
    private static final DeviceInfo T4 = SimulatedDevices.get("T4", 0);

    /** A narrow GPU path: sm_80+, fp16, head_dim multiple of 16 up to 128, no causal, no decoder features. */
    private static final PathFacts NARROW = new PathFacts(
            ComputeCapability.SM80,
            "an imaginary instruction",
            EnumSet.of(ComputeDtype.FP16),
            "this path needs fp16",
            16,
            128,
            EnumSet.of(MaskKind.NONE, MaskKind.PADDING),
            false,
            false,
            false,
            true);

    private static AttentionRequest request(int headDim, MaskKind mask, int kvHeads, int window, boolean prefix) {
        return new AttentionRequest(ComputeDtype.BF16, 32, headDim, 4, 128, mask, kvHeads, window, prefix);
    }

    @Test
    void eachFactRefusesWhatItDoesNotCoverAndNamesIt() {
        AttentionRequest ok = request(64, MaskKind.PADDING, 32, 0, false);
        assertEquals(Optional.empty(), NARROW.whyNot(A100, ComputeDtype.FP16, ok));
        assertTrue(NARROW.whyNot(T4, ComputeDtype.FP16, ok).orElseThrow().contains("needs sm_80 or newer"));
        assertTrue(NARROW.whyNot(DeviceInfo.cpu(), ComputeDtype.FP16, ok)
                .orElseThrow()
                .contains("is not a GPU"));
        assertEquals(
                "this path needs fp16 and the compute dtype is bf16",
                NARROW.whyNot(A100, ComputeDtype.BF16, ok).orElseThrow());
        assertEquals(
                "head_dim 72 is not a multiple of 16",
                NARROW.whyNot(A100, ComputeDtype.FP16, request(72, MaskKind.PADDING, 32, 0, false))
                        .orElseThrow());
        assertEquals(
                "head_dim 256 is above 128",
                NARROW.whyNot(A100, ComputeDtype.FP16, request(256, MaskKind.PADDING, 32, 0, false))
                        .orElseThrow());
        assertEquals(
                "takes none/padding masks, not causal",
                NARROW.whyNot(A100, ComputeDtype.FP16, request(64, MaskKind.CAUSAL, 32, 0, false))
                        .orElseThrow());
        assertEquals(
                "reads one K/V head per query head; the model has 4 K/V heads for 32 query heads",
                NARROW.whyNot(A100, ComputeDtype.FP16, request(64, MaskKind.PADDING, 4, 0, false))
                        .orElseThrow());
        assertTrue(NARROW.whyNot(A100, ComputeDtype.FP16, request(64, MaskKind.PADDING, 32, 4096, false))
                .orElseThrow()
                .contains("sliding attention window (4096 tokens)"));
        assertTrue(NARROW.whyNot(A100, ComputeDtype.FP16, request(64, MaskKind.PADDING, 32, 0, true))
                .orElseThrow()
                .contains("shared prompt"));
    }

    @Test
    void theSelectorReadsTheShippedPathsFacts() {
        // bf16 on a T4: flash-sm75's facts say fp16 only, so a forced bf16 run is refused with that reason.
        AttentionRequest gqa = request(64, MaskKind.CAUSAL, 4, 4096, true);
        Optional<String> no = AttentionSelector.whyNot(
                AttentionPath.FLASH_SM75, T4, ComputeDtype.BF16, gqa, KernelSupportFixture.README_TABLE);
        assertTrue(no.orElseThrow().contains("no bf16"), no.toString());
        // A decoder request (GQA, window, shared prefix, causal): every shipped path declares them.
        for (AttentionPath p : AttentionPath.values()) {
            PathFacts f = p.facts();
            assertTrue(
                    f.groupedKv()
                            && f.slidingWindow()
                            && f.sharedPrefix()
                            && f.masks().contains(MaskKind.CAUSAL),
                    p.id());
            assertEquals(p.isGpu(), f.gpu());
        }
        AttentionChoice a100 = AttentionSelector.select(A100, gqa, UserOverrides.NONE);
        assertEquals(AttentionPath.FLASH_SM80, a100.path(), a100.reason());
        // head_dim 100 is not a multiple of 8: flash is passed over with the facts' reason.
        AttentionChoice odd =
                AttentionSelector.select(A100, request(100, MaskKind.CAUSAL, 4, 0, false), UserOverrides.NONE);
        assertFalse(odd.path().id().startsWith("flash"), odd.reason());
        assertTrue(odd.reason().contains("head_dim 100 is not a multiple of 8"), odd.reason());
        // CPU paths compute in fp32 whatever the model is stored in.
        assertEquals(
                Optional.empty(),
                AttentionSelector.whyNot(
                        AttentionPath.CPU_FLASH, T4, ComputeDtype.FP16, gqa, KernelSupportFixture.README_TABLE));
    }

    @Test
    void aRequestNeedsAWholeNumberOfQueryHeadsPerKvHead() {
        try {
            request(64, MaskKind.CAUSAL, 5, 0, false);
            throw new AssertionError("32 query heads over 5 K/V heads was accepted");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("kvHeads=5"), expected.getMessage());
        }
    }
}
