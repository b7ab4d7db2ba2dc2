package dev.cmwq.workqueue;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The kernel's {@code wq_affinity_scope} of an unbound workqueue: how its CPUs are split into pods.
 * An item goes to the pool of the issuer's pod. {@link #CACHE} (CPUs sharing the last-level cache)
 * is the kernel's default.
 */
public enum AffinityScope {
    /** One pod per CPU. */
    CPU,
    /** CPUs that are SMT siblings (one physical core). */
    SMT,
    /** CPUs sharing the last-level cache. */
    CACHE,
    /** CPUs of one NUMA node. */
    NUMA,
    /** One pod with every CPU. */
    SYSTEM;

    /** The default scope ({@code workqueue.default_affinity_scope}). */
    public static final AffinityScope DEFAULT = CACHE;

    /** The sysfs name: {@code cpu}, {@code smt}, {@code cache}, {@code numa}, {@code system}. */
    public String sysfsName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses the sysfs name (case-insensitive; {@code default} means {@link #DEFAULT}).
     *
     * @throws IllegalArgumentException naming the text and the allowed names
     */
    public static AffinityScope parse(String text) {
        String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        if (t.equals("default")) {
            return DEFAULT;
        }
        for (AffinityScope s : values()) {
            if (s.sysfsName().equals(t)) {
                return s;
            }
        }
        throw new IllegalArgumentException("affinity scope '" + text + "' is not one of "
                + Arrays.stream(values()).map(AffinityScope::sysfsName).collect(Collectors.joining(", ")) + ", default");
    }
}
