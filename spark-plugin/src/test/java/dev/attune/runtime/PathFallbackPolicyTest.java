package dev.attune.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.UnsupportedPathException;
import dev.attune.kernels.select.UserOverrides;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PathFallbackPolicyTest {

    @Test
    void aFailedPathIsAddedToTheUsersExclusions() {
        PathFallbackPolicy p = new PathFallbackPolicy("cuda:0 X", UserOverrides.exclude(AttentionPath.MATH));
        assertEquals(Set.of(AttentionPath.MATH), p.overrides().excluded());
        assertEquals(
                PathFallbackPolicy.Action.NEXT_PATH, p.onFailure(AttentionPath.FLASH_SM80, false, "launch failed"));
        assertEquals(
                Set.of(AttentionPath.MATH, AttentionPath.FLASH_SM80),
                p.overrides().excluded());
        assertEquals("launch failed", p.failedPaths().get(AttentionPath.FLASH_SM80));
        assertEquals(1, p.fallbacks());
        assertTrue(p.deviceUsable());
    }

    @Test
    void aLostContextLosesTheDeviceOnceWithTheFirstReason() {
        PathFallbackPolicy p = new PathFallbackPolicy("cuda:0 X", UserOverrides.NONE);
        assertEquals(
                PathFallbackPolicy.Action.DEVICE_LOST,
                p.onFailure(AttentionPath.MEM_EFFICIENT, true, "illegal address"));
        assertEquals(PathFallbackPolicy.Action.DEVICE_LOST, p.onFailure(AttentionPath.MATH, true, "later"));
        assertFalse(p.deviceUsable());
        assertTrue(p.lostReason().orElseThrow().contains("illegal address"));
        assertTrue(p.lostReason().orElseThrow().contains("mem-efficient"));
    }

    @Test
    void aForcedPathIsNeverReplaced() {
        PathFallbackPolicy p = new PathFallbackPolicy("cuda:0 X", UserOverrides.force(AttentionPath.FLASH_SM75));
        UnsupportedPathException e = assertThrows(
                UnsupportedPathException.class,
                () -> p.onFailure(AttentionPath.FLASH_SM75, false, "no kernel for head_dim 96"));
        assertTrue(
                e.getMessage().contains("cuda:0 X")
                        && e.getMessage().contains("flash-sm75")
                        && e.getMessage().contains("no kernel for head_dim 96"),
                e.getMessage());
        assertEquals(0, p.fallbacks());
        assertEquals(Optional.of(AttentionPath.FLASH_SM75), p.overrides().forced());
    }

    @Test
    void fp32ReRunsDropAForcedFlashPathButKeepExclusions() {
        PathFallbackPolicy flash = new PathFallbackPolicy("d", UserOverrides.force(AttentionPath.FLASH_SM80));
        UserOverrides o = flash.fp32Overrides();
        assertEquals(Optional.empty(), o.forced());
        assertEquals(Optional.of(ComputeDtype.FP32), o.dtype());

        PathFallbackPolicy math = new PathFallbackPolicy("d", UserOverrides.force(AttentionPath.MATH));
        assertEquals(Optional.of(AttentionPath.MATH), math.fp32Overrides().forced());

        PathFallbackPolicy free = new PathFallbackPolicy("d", UserOverrides.NONE);
        free.onFailure(AttentionPath.MEM_EFFICIENT, false, "x");
        assertEquals(Set.of(AttentionPath.MEM_EFFICIENT), free.fp32Overrides().excluded());
        assertTrue(free.mayRerunInFp32());
        assertFalse(new PathFallbackPolicy("d", UserOverrides.NONE.withDtype(ComputeDtype.FP16)).mayRerunInFp32());
    }
}
