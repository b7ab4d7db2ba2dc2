package dev.cmwq.workqueue;

/** Told of each pool stall the watchdog detects, once per stall, and of its recovery. */
public interface WatchdogListener {
    void stalled(PoolStall stall);

    default void recovered(PoolStall stall) {
    }
}
