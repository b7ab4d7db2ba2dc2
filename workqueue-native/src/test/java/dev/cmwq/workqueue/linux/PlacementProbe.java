package dev.cmwq.workqueue.linux;

import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.ThreadPlacement;
import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.WorkqueueAttrs;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.WqFlag;
import java.time.Duration;
import java.util.EnumSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Main class for the child JVMs of {@link NativeAccessFallbackTest}: loads the placement and says what it got. */
public final class PlacementProbe {
    private PlacementProbe() {
    }

    public static void main(String[] args) throws Exception {
        ThreadPlacement p = ThreadPlacement.load();
        System.out.println("enforced=" + p.enforced());
        System.out.println("description=" + p.description());
        System.out.println("currentCpu=" + p.currentCpu());
        // An engine: an unbound queue asking for CPU 1 at nice 5; what its worker really got.
        try (Workqueues e = Workqueues.builder().name("probe").cpus(2).build()) {
            Workqueue wq = e.alloc("probe-q", EnumSet.of(WqFlag.UNBOUND), 0, new WorkqueueAttrs(5, CpuMask.of(1)));
            CompletableFuture<String> seen = new CompletableFuture<>();
            wq.queue(new Work("probe", () -> {
                try {
                    NativePlacementEngineTest.Seen s = NativePlacementEngineTest.self();
                    seen.complete("cpus=" + s.cpusAllowed() + " nice=" + s.nice());
                } catch (Exception ex) {
                    seen.completeExceptionally(ex);
                }
            }));
            System.out.println("worker=" + seen.get(60, TimeUnit.SECONDS));
            System.out.println("queueEnforced=" + wq.placementEnforced());
            System.out.println("attrs=" + wq.attrs());
            e.shutdown(Duration.ofSeconds(30));
        }
    }
}
