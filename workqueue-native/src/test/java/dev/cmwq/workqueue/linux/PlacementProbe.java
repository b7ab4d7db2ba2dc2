package dev.cmwq.workqueue.linux;

import dev.cmwq.workqueue.ThreadPlacement;

/** Main class for the child JVMs of {@link NativeAccessFallbackTest}: loads the placement and says what it got. */
public final class PlacementProbe {
    private PlacementProbe() {
    }

    public static void main(String[] args) {
        ThreadPlacement p = ThreadPlacement.load();
        System.out.println("enforced=" + p.enforced());
        System.out.println("description=" + p.description());
        System.out.println("currentCpu=" + p.currentCpu());
    }
}
