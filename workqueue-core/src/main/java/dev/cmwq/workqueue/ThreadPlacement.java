package dev.cmwq.workqueue;

import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Puts the calling thread where the kernel would put a worker: on a set of CPUs
 * ({@code sched_setaffinity}) and at a nice level ({@code setpriority}), and tells which CPU the
 * calling thread runs on ({@code sched_getcpu}). Every method acts on the <em>calling</em> thread
 * only; the engine calls them from the worker thread itself.
 *
 * <p>The real implementation lives in the optional module {@code workqueue-native} (Java 22+, FFM)
 * and is found through {@link ThreadPlacementProvider} by {@link ServiceLoader}. Without it (on
 * Java 21, on another OS, or without {@code --enable-native-access}) {@link #load()} returns a
 * placement that does nothing and reports {@link #enforced()} false; the reason is logged once at
 * INFO.
 */
public interface ThreadPlacement {

    /** True if this placement acts on threads; false for the fallback. */
    boolean enforced();

    /** What this placement is, or why it does nothing (for logs and the actuator). */
    String description();

    /** The CPU the calling thread is on ({@code sched_getcpu}), or -1 if unknown. Hot path: must be cheap. */
    int currentCpu();

    /** The CPUs the calling thread may run on ({@code sched_getaffinity}), or null if unknown. */
    CpuMask getAffinity();

    /**
     * Restricts the calling thread to {@code mask} ({@code sched_setaffinity}).
     *
     * @return null on success, otherwise why not (e.g. {@code "EINVAL"})
     */
    String setAffinity(CpuMask mask);

    /** The calling thread's nice level ({@code getpriority}), or {@link Integer#MIN_VALUE} if unknown. */
    int getNice();

    /**
     * Sets the calling thread's nice level ({@code setpriority(PRIO_PROCESS, gettid(), nice)}).
     *
     * @return null on success, otherwise why not (e.g. {@code "EACCES"} when the process may not
     *         raise its priority)
     */
    String setNice(int nice);

    /** The calling thread's Linux thread id ({@code gettid}), or -1 if unknown. */
    long tid();

    /** A placement that does nothing and says why. */
    static ThreadPlacement unavailable(String reason) {
        return new Unavailable(reason);
    }

    /**
     * The placement of this JVM: the first {@link ThreadPlacementProvider} found by
     * {@link ServiceLoader} that can act, else the fallback. Looked up once per JVM (native access
     * is a property of the process); the outcome is logged once, at INFO.
     */
    static ThreadPlacement load() {
        return Unavailable.loaded();
    }

    /** The fallback: validates nothing, acts on nothing, knows nothing. */
    final class Unavailable implements ThreadPlacement {
        private static final Logger log = LoggerFactory.getLogger(ThreadPlacement.class);
        private static final AtomicReference<ThreadPlacement> LOADED = new AtomicReference<>();
        private final String reason;

        private Unavailable(String reason) {
            this.reason = reason;
        }

        static ThreadPlacement loaded() {
            ThreadPlacement p = LOADED.get();
            if (p == null) {
                p = lookUp();
                if (LOADED.compareAndSet(null, p)) {
                    if (p.enforced()) {
                        log.info("workqueue: worker placement enforced ({})", p.description());
                    } else {
                        log.info("workqueue: worker placement (cpumask, nice) not enforced: {}", p.description());
                    }
                }
                p = LOADED.get();
            }
            return p;
        }

        private static ThreadPlacement lookUp() {
            ThreadPlacement fallback = null;
            try {
                for (ThreadPlacementProvider provider : ServiceLoader.load(ThreadPlacementProvider.class,
                        ThreadPlacement.class.getClassLoader())) {
                    ThreadPlacement p = provider.create();
                    if (p.enforced()) {
                        return p;
                    }
                    if (fallback == null) {
                        fallback = p;
                    }
                }
            } catch (ServiceConfigurationError | LinkageError e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                if (cause instanceof UnsupportedClassVersionError) {
                    return new Unavailable("workqueue-native needs Java 22 or later (FFM); this JVM is Java "
                            + Runtime.version().feature());
                }
                return new Unavailable("workqueue-native could not be loaded: " + cause);
            }
            return fallback != null ? fallback
                    : new Unavailable("workqueue-native is not on the class path (add the dev.cmwq:workqueue-native dependency, Java 22+, Linux)");
        }

        @Override
        public boolean enforced() {
            return false;
        }

        @Override
        public String description() {
            return reason;
        }

        @Override
        public int currentCpu() {
            return -1;
        }

        @Override
        public CpuMask getAffinity() {
            return null;
        }

        @Override
        public String setAffinity(CpuMask mask) {
            return "not enforced: " + reason;
        }

        @Override
        public int getNice() {
            return Integer.MIN_VALUE;
        }

        @Override
        public String setNice(int nice) {
            return "not enforced: " + reason;
        }

        @Override
        public long tid() {
            return -1;
        }

        @Override
        public String toString() {
            return "ThreadPlacement[not enforced: " + reason + "]";
        }
    }
}
