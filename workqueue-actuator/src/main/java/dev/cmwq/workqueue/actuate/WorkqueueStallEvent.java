package dev.cmwq.workqueue.actuate;

import dev.cmwq.workqueue.PoolStall;
import org.springframework.context.ApplicationEvent;

/**
 * The watchdog found a worker pool stalled ({@code stalled = true}: the kernel's "BUG: workqueue
 * lockup"), or a stalled pool made progress again ({@code stalled = false}). Published on the
 * watchdog's thread.
 */
public class WorkqueueStallEvent extends ApplicationEvent {

    private final PoolStall stall;
    private final boolean stalled;

    public WorkqueueStallEvent(Object source, PoolStall stall, boolean stalled) {
        super(source);
        this.stall = stall;
        this.stalled = stalled;
    }

    public PoolStall getStall() {
        return stall;
    }

    /** True for a stall, false for the recovery. */
    public boolean isStalled() {
        return stalled;
    }

    @Override
    public String toString() {
        return (stalled ? "stall of " : "recovery of ") + stall.pool() + " (stuck for " + stall.stuckFor() + ", " + stall.pending()
                + " pending)";
    }
}
