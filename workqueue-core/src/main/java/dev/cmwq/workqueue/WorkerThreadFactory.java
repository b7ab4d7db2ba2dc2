package dev.cmwq.workqueue;

/**
 * Makes the engine's threads (workers, rescuers, the monitor). The engine names each thread the
 * kernel's way and starts it itself. A factory that throws, or whose {@link Thread#start()} fails
 * (as {@code OutOfMemoryError: unable to create native thread} does), makes worker creation fail:
 * the pool carries on with the workers it has and retries after the kernel's one-second cooldown.
 */
@FunctionalInterface
public interface WorkerThreadFactory {
    /** An unstarted thread named {@code name} that runs {@code body}. */
    Thread newThread(String name, Runnable body);

    /** Platform threads, daemon or not. */
    static WorkerThreadFactory platform(boolean daemon) {
        return (name, body) -> Thread.ofPlatform().name(name).daemon(daemon).unstarted(body);
    }
}
