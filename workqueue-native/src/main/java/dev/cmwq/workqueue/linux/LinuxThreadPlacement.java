package dev.cmwq.workqueue.linux;

import dev.cmwq.workqueue.CpuMask;
import dev.cmwq.workqueue.ThreadPlacement;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * {@link ThreadPlacement} on Linux through downcalls to the C library with the FFM API
 * ({@code java.lang.foreign}): {@code sched_getcpu}, {@code gettid}, {@code sched_setaffinity},
 * {@code sched_getaffinity}, {@code setpriority} and {@code getpriority}, always for the calling
 * thread's tid.
 *
 * <p>Obtained from {@link LinuxThreadPlacementProvider}, which checks that native access is enabled
 * before anything here runs: the method handles live in {@link Libc}, a holder class that is only
 * initialised by {@link #create()}. The instance has no state, so it is thread-safe without locks;
 * each affinity call allocates its mask buffer in its own confined arena.
 */
public final class LinuxThreadPlacement implements ThreadPlacement {

    /** glibc's cpu_set_t holds 1024 CPUs; the buffers are never smaller. */
    static final int MIN_MASK_BITS = 1024;
    /** sched_getaffinity is retried with a doubled buffer on EINVAL up to this size. */
    static final int MAX_MASK_BITS = 1 << 20;

    static final int PRIO_PROCESS = 0;

    private static final String DESCRIPTION = "linux sched_setaffinity/setpriority via FFM (Java "
            + Runtime.version().feature() + ", " + System.getProperty("os.arch") + ")";

    private LinuxThreadPlacement() {
    }

    /**
     * Links the C library functions (once per JVM) and returns the placement, or
     * {@link ThreadPlacement#unavailable(String)} if linking failed. Calls restricted methods: the
     * caller must have checked that native access is enabled for this module.
     */
    static ThreadPlacement create() {
        String failure = Libc.FAILURE;
        if (failure != null) {
            return ThreadPlacement.unavailable(failure);
        }
        return new LinuxThreadPlacement();
    }

    @Override
    public boolean enforced() {
        return true;
    }

    @Override
    public String description() {
        return DESCRIPTION;
    }

    /**
     * One critical downcall, no allocation, no errno capture: glibc answers from the rseq area
     * or the vDSO, and the only failure (ENOSYS) is reported as -1, which the contract allows.
     */
    @Override
    public int currentCpu() {
        try {
            int cpu = (int) Libc.SCHED_GETCPU.invokeExact();
            return cpu < 0 ? -1 : cpu;
        } catch (Throwable t) {
            return -1;
        }
    }

    @Override
    public long tid() {
        try {
            return (int) Libc.GETTID.invokeExact();
        } catch (Throwable t) {
            return -1;
        }
    }

    @Override
    public CpuMask getAffinity() {
        int tid = (int) tid();
        if (tid < 0) {
            return null;
        }
        for (int bits = MIN_MASK_BITS; bits <= MAX_MASK_BITS; bits *= 2) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment errno = arena.allocate(Libc.CAPTURE_STATE);
                long bytes = maskBytes(bits);
                MemorySegment mask = arena.allocate(bytes, 8);
                int rc = (int) Libc.SCHED_GETAFFINITY.invokeExact(errno, tid, bytes, mask);
                if (rc == 0) {
                    return fromWords(mask, bytes);
                }
                if (errno(errno) != Errno.EINVAL) {
                    return null;
                }
                // EINVAL: the kernel's mask (nr_cpu_ids) is larger than the buffer; try a bigger one.
            } catch (Throwable t) {
                return null;
            }
        }
        return null;
    }

    @Override
    public String setAffinity(CpuMask mask) {
        Objects.requireNonNull(mask, "mask");
        String asked = "sched_setaffinity(" + mask.toList() + ")";
        int tid = (int) tid();
        if (tid < 0) {
            return asked + ": no tid";
        }
        long bytes = maskBytes(Math.max(MIN_MASK_BITS, mask.last() + 1));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = arena.allocate(Libc.CAPTURE_STATE);
            MemorySegment buf = arena.allocate(bytes, 8);
            toWords(mask, buf);
            int rc = (int) Libc.SCHED_SETAFFINITY.invokeExact(errno, tid, bytes, buf);
            return rc == 0 ? null : asked + ": " + Errno.name(errno(errno));
        } catch (Throwable t) {
            return asked + ": " + t;
        }
    }

    /**
     * {@code getpriority} returns the nice level itself, so -1 is both a valid answer and the error
     * return: errno is cleared right before the call and only a -1 with errno set is an error. The
     * JVM may touch errno between clearing it and the call (a safepoint wait), so an error that
     * cannot happen for the calling thread is checked once more before it is believed.
     */
    @Override
    public int getNice() {
        int tid = (int) tid();
        if (tid < 0) {
            return Integer.MIN_VALUE;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = arena.allocate(Libc.CAPTURE_STATE);
            for (int attempt = 0; attempt < 2; attempt++) {
                MemorySegment errnoLocation = (MemorySegment) Libc.ERRNO_LOCATION.invokeExact();
                errnoLocation.reinterpret(Integer.BYTES).set(ValueLayout.JAVA_INT, 0, 0);
                int nice = (int) Libc.GETPRIORITY.invokeExact(errno, PRIO_PROCESS, tid);
                if (nice != -1 || errno(errno) == 0) {
                    return nice;
                }
            }
            return Integer.MIN_VALUE;
        } catch (Throwable t) {
            return Integer.MIN_VALUE;
        }
    }

    @Override
    public String setNice(int nice) {
        String asked = "setpriority(" + nice + ")";
        int tid = (int) tid();
        if (tid < 0) {
            return asked + ": no tid";
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = arena.allocate(Libc.CAPTURE_STATE);
            int rc = (int) Libc.SETPRIORITY.invokeExact(errno, PRIO_PROCESS, tid, nice);
            return rc == 0 ? null : asked + ": " + Errno.name(errno(errno));
        } catch (Throwable t) {
            return asked + ": " + t;
        }
    }

    @Override
    public String toString() {
        return "ThreadPlacement[" + DESCRIPTION + "]";
    }

    private static int errno(MemorySegment captured) {
        return (int) Libc.ERRNO.get(captured, 0L);
    }

    /** Bytes of a mask buffer holding {@code bits} bits, in whole {@code unsigned long} words. */
    static long maskBytes(int bits) {
        return ((bits + 63L) / 64) * Long.BYTES;
    }

    /** Writes {@code mask} as the kernel's bitmap: bit {@code cpu % 64} of word {@code cpu / 64}. */
    static void toWords(CpuMask mask, MemorySegment buf) {
        buf.fill((byte) 0);
        for (int cpu : mask.cpus()) {
            long index = cpu / 64;
            long word = buf.getAtIndex(ValueLayout.JAVA_LONG, index);
            buf.setAtIndex(ValueLayout.JAVA_LONG, index, word | (1L << (cpu % 64)));
        }
    }

    /** Reads the kernel's bitmap of {@code bytes} bytes back into a mask. */
    static CpuMask fromWords(MemorySegment buf, long bytes) {
        int words = (int) (bytes / Long.BYTES);
        int count = 0;
        for (int i = 0; i < words; i++) {
            count += Long.bitCount(buf.getAtIndex(ValueLayout.JAVA_LONG, i));
        }
        int[] cpus = new int[count];
        int n = 0;
        for (int i = 0; i < words; i++) {
            long w = buf.getAtIndex(ValueLayout.JAVA_LONG, i);
            while (w != 0) {
                int bit = Long.numberOfTrailingZeros(w);
                cpus[n++] = i * 64 + bit;
                w &= w - 1;
            }
        }
        return CpuMask.of(cpus);
    }

    /**
     * The downcall handles, linked once when this class is initialised. Initialising it calls
     * restricted methods, so only {@link #create()} touches it, after the provider's checks.
     */
    static final class Libc {
        static final String FAILURE;
        static final StructLayout CAPTURE_STATE = Linker.Option.captureStateLayout();
        static final VarHandle ERRNO = CAPTURE_STATE.varHandle(PathElement.groupElement("errno"));
        /** {@code int sched_getcpu(void)} */
        static final MethodHandle SCHED_GETCPU;
        /** {@code pid_t gettid(void)}, or {@code syscall(SYS_gettid)} before glibc 2.30 */
        static final MethodHandle GETTID;
        /** {@code int sched_getaffinity(pid_t, size_t, cpu_set_t *)}, errno captured */
        static final MethodHandle SCHED_GETAFFINITY;
        /** {@code int sched_setaffinity(pid_t, size_t, const cpu_set_t *)}, errno captured */
        static final MethodHandle SCHED_SETAFFINITY;
        /** {@code int getpriority(int which, id_t who)}, errno captured */
        static final MethodHandle GETPRIORITY;
        /** {@code int setpriority(int which, id_t who, int prio)}, errno captured */
        static final MethodHandle SETPRIORITY;
        /** {@code int *__errno_location(void)}: the calling thread's errno, to clear it */
        static final MethodHandle ERRNO_LOCATION;

        static {
            String failure = null;
            MethodHandle getcpu = null;
            MethodHandle gettid = null;
            MethodHandle getaff = null;
            MethodHandle setaff = null;
            MethodHandle getprio = null;
            MethodHandle setprio = null;
            MethodHandle errnoLocation = null;
            try {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                Linker.Option errno = Linker.Option.captureCallState("errno");
                getcpu = linker.downcallHandle(find(libc, "sched_getcpu"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT), Linker.Option.critical(false));
                gettid = linkGettid(linker, libc);
                getaff = linker.downcallHandle(find(libc, "sched_getaffinity"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                                ValueLayout.ADDRESS), errno);
                setaff = linker.downcallHandle(find(libc, "sched_setaffinity"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                                ValueLayout.ADDRESS), errno);
                getprio = linker.downcallHandle(find(libc, "getpriority"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
                        errno);
                setprio = linker.downcallHandle(find(libc, "setpriority"),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                                ValueLayout.JAVA_INT), errno);
                errnoLocation = linker.downcallHandle(find(libc, "__errno_location"),
                        FunctionDescriptor.of(ValueLayout.ADDRESS));
            } catch (RuntimeException | Error e) {
                failure = "linking the C library functions failed: " + e;
            }
            FAILURE = failure;
            SCHED_GETCPU = getcpu;
            GETTID = gettid;
            SCHED_GETAFFINITY = getaff;
            SCHED_SETAFFINITY = setaff;
            GETPRIORITY = getprio;
            SETPRIORITY = setprio;
            ERRNO_LOCATION = errnoLocation;
        }

        private Libc() {
        }

        private static MemorySegment find(SymbolLookup libc, String name) {
            return libc.find(name).orElseThrow(() -> new IllegalStateException(
                    "no symbol '" + name + "' in the C library (glibc or musl on Linux expected)"));
        }

        /** {@code gettid} by name (glibc 2.30+, musl), else {@code syscall(SYS_gettid)}; type {@code ()int}. */
        private static MethodHandle linkGettid(Linker linker, SymbolLookup libc) {
            var byName = libc.find("gettid");
            if (byName.isPresent()) {
                return linker.downcallHandle(byName.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT),
                        Linker.Option.critical(false));
            }
            return syscallGettid(linker, libc, System.getProperty("os.arch"));
        }

        /** {@code syscall(SYS_gettid)} as a {@code ()int}: SYS_gettid is 186 on x86_64, 178 on aarch64. */
        static MethodHandle syscallGettid(Linker linker, SymbolLookup libc, String arch) {
            long sysGettid = switch (arch) {
                case "amd64", "x86_64" -> 186;
                case "aarch64" -> 178;
                default -> throw new IllegalStateException("no gettid and no SYS_gettid number for " + arch);
            };
            // long syscall(long number, ...): no variadic arguments passed, so a plain (long)long.
            MethodHandle syscall = linker.downcallHandle(find(libc, "syscall"),
                    FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
            return MethodHandles.explicitCastArguments(MethodHandles.insertArguments(syscall, 0, sysGettid),
                    MethodType.methodType(int.class));
        }
    }

    /** Names of the errno values these calls return (the same numbers on x86_64 and aarch64). */
    static final class Errno {
        static final int EPERM = 1;
        static final int ESRCH = 3;
        static final int EACCES = 13;
        static final int EFAULT = 14;
        static final int EINVAL = 22;

        private Errno() {
        }

        static String name(int errno) {
            return switch (errno) {
                case EPERM -> "EPERM";
                case ESRCH -> "ESRCH";
                case EACCES -> "EACCES";
                case EFAULT -> "EFAULT";
                case EINVAL -> "EINVAL";
                default -> "errno " + errno;
            };
        }
    }
}
