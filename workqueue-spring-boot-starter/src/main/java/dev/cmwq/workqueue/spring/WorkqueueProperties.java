package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.AffinityScope;
import dev.cmwq.workqueue.WqFlag;
import java.time.Duration;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.NestedConfigurationProperty;

/**
 * The workqueue engine, its system workqueues and the application's own workqueues, configured
 * under {@code workqueue.*}. Every value is checked when the context starts; a bad one stops the
 * start with a report naming the property, the value and what is allowed.
 *
 * <pre>{@code
 * workqueue:
 *   queues:
 *     writeback: { flags: [unbound, mem-reclaim, sysfs], max-active: 8 }
 *     audit:     { ordered: true }
 *   watchdog: { threshold: 30s }
 * }</pre>
 */
@ConfigurationProperties("workqueue")
public class WorkqueueProperties {

    /** Whether the workqueue engine and its beans are created. */
    private boolean enabled = true;

    /** The engine's name, used for its threads and in logs. */
    private String name = "cmwq";

    /**
     * Number of CPUs, i.e. of per-CPU pool pairs (one normal, one highpri). Defaults to the
     * available processors (with native placement: the machine's CPU numbering).
     */
    private Integer cpus;

    /** How long surplus idle workers are kept before they are reaped (the kernel's IDLE_WORKER_TIMEOUT). */
    private Duration idleTimeout = Duration.ofSeconds(300);

    /** The most worker threads the engine may have at once. */
    private int maxWorkers = 4096;

    /**
     * Slowest sampling period of the sleep monitor that detects blocked workers (right after it
     * found one it samples at a sixteenth of it, at least 20 us); 0 turns it off.
     */
    private Duration monitorInterval = Duration.ofMillis(1);

    /**
     * The kernel's workqueue.cpu_intensive_thresh_us: a per-CPU item that keeps its CPU this long
     * stops counting toward concurrency and is reported as a CPU hog; 0 turns detection off.
     */
    private Duration cpuIntensiveThresh = Duration.ofMillis(10);

    /** Measure each item's CPU time for the statistics (two clock reads per item). */
    private boolean cpuAccounting = true;

    /** The kernel's workqueue.power_efficient: POWER_EFFICIENT queues become unbound. */
    private boolean powerEfficient = false;

    /**
     * The kernel's workqueue/cpumask: CPUs every unbound pool is restricted to, as hex ("f") or a
     * list ("0-3,5"). Empty for every online CPU.
     */
    private String unboundCpumask;

    /** The kernel's workqueue.default_affinity_scope, for unbound queues that name none. */
    private AffinityScope defaultAffinityScope = AffinityScope.CACHE;

    /** The watchdog. */
    private final Watchdog watchdog = new Watchdog();

    /** system_wq ("events"): bound, for short items. */
    @NestedConfigurationProperty
    private final SystemQueue systemWq = new SystemQueue();

    /** system_highpri_wq ("events_highpri"): bound, highpri pools. */
    @NestedConfigurationProperty
    private final SystemQueue systemHighpriWq = new SystemQueue();

    /** system_long_wq ("events_long"): bound, for items that may run long. */
    @NestedConfigurationProperty
    private final SystemQueue systemLongWq = new SystemQueue();

    /** system_unbound_wq ("events_unbound"): unbound. */
    @NestedConfigurationProperty
    private final UnboundSystemQueue systemUnboundWq = new UnboundSystemQueue();

    /** system_freezable_wq ("events_freezable"): bound, frozen while the context is stopped. */
    @NestedConfigurationProperty
    private final SystemQueue systemFreezableWq = new SystemQueue();

    /** system_power_efficient_wq ("events_power_efficient"): unbound in power-efficient mode. */
    @NestedConfigurationProperty
    private final UnboundSystemQueue systemPowerEfficientWq = new UnboundSystemQueue();

    /** system_freezable_power_efficient_wq ("events_freezable_pwr_efficient"). */
    @NestedConfigurationProperty
    private final UnboundSystemQueue systemFreezablePowerEfficientWq = new UnboundSystemQueue();

    /**
     * The application's workqueues, by name. Each entry takes flags (unbound, freezable,
     * mem-reclaim, highpri, cpu-intensive, sysfs, power-efficient), max-active, ordered and, for
     * unbound queues, nice, cpumask, affinity-scope and affinity-strict. Each queue is a bean
     * named after it. A name with characters other than letters, digits, '-' and '_' must be
     * written in brackets ("[ext4.rsv]") or set with the entry's name property.
     */
    private Map<String, Queue> queues = new LinkedHashMap<>();

    /** Making one workqueue the application's task executor (opt-in). */
    private final TaskExecutor taskExecutor = new TaskExecutor();

    public boolean isEnabled() {
        return enabled;
    }

    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public Integer getCpus() {
        return cpus;
    }

    public void setCpus(Integer cpus) {
        this.cpus = cpus;
    }

    public Duration getIdleTimeout() {
        return idleTimeout;
    }

    public void setIdleTimeout(Duration idleTimeout) {
        this.idleTimeout = idleTimeout;
    }

    public int getMaxWorkers() {
        return maxWorkers;
    }

    public void setMaxWorkers(int maxWorkers) {
        this.maxWorkers = maxWorkers;
    }

    public Duration getMonitorInterval() {
        return monitorInterval;
    }

    public void setMonitorInterval(Duration monitorInterval) {
        this.monitorInterval = monitorInterval;
    }

    public Duration getCpuIntensiveThresh() {
        return cpuIntensiveThresh;
    }

    public void setCpuIntensiveThresh(Duration cpuIntensiveThresh) {
        this.cpuIntensiveThresh = cpuIntensiveThresh;
    }

    public boolean isCpuAccounting() {
        return cpuAccounting;
    }

    public void setCpuAccounting(boolean cpuAccounting) {
        this.cpuAccounting = cpuAccounting;
    }

    public boolean isPowerEfficient() {
        return powerEfficient;
    }

    public void setPowerEfficient(boolean powerEfficient) {
        this.powerEfficient = powerEfficient;
    }

    public String getUnboundCpumask() {
        return unboundCpumask;
    }

    public void setUnboundCpumask(String unboundCpumask) {
        this.unboundCpumask = unboundCpumask;
    }

    public AffinityScope getDefaultAffinityScope() {
        return defaultAffinityScope;
    }

    public void setDefaultAffinityScope(AffinityScope defaultAffinityScope) {
        this.defaultAffinityScope = defaultAffinityScope;
    }

    public Watchdog getWatchdog() {
        return watchdog;
    }

    public SystemQueue getSystemWq() {
        return systemWq;
    }

    public SystemQueue getSystemHighpriWq() {
        return systemHighpriWq;
    }

    public SystemQueue getSystemLongWq() {
        return systemLongWq;
    }

    public UnboundSystemQueue getSystemUnboundWq() {
        return systemUnboundWq;
    }

    public SystemQueue getSystemFreezableWq() {
        return systemFreezableWq;
    }

    public UnboundSystemQueue getSystemPowerEfficientWq() {
        return systemPowerEfficientWq;
    }

    public UnboundSystemQueue getSystemFreezablePowerEfficientWq() {
        return systemFreezablePowerEfficientWq;
    }

    public Map<String, Queue> getQueues() {
        return queues;
    }

    public void setQueues(Map<String, Queue> queues) {
        this.queues = queues;
    }

    public TaskExecutor getTaskExecutor() {
        return taskExecutor;
    }

    /** The watchdog (the kernel's workqueue.watchdog_thresh). */
    public static class Watchdog {

        /** How long a pool may make no progress before it is reported as stalled; 0 turns the watchdog off. */
        private Duration threshold = Duration.ofSeconds(30);

        public Duration getThreshold() {
            return threshold;
        }

        public void setThreshold(Duration threshold) {
            this.threshold = threshold;
        }
    }

    /** A system workqueue's tunables: max_active (bound system queues have no attributes). */
    public static class SystemQueue {

        /**
         * Items the queue may run at once per CPU (bound) or in all (unbound): 1..512 (unbound:
         * up to max(512, 4 x CPUs)). Unset keeps the kernel's value.
         */
        private Integer maxActive;

        public Integer getMaxActive() {
            return maxActive;
        }

        public void setMaxActive(Integer maxActive) {
            this.maxActive = maxActive;
        }
    }

    /** An unbound system workqueue's tunables: max_active and the unbound attributes. */
    public static class UnboundSystemQueue extends SystemQueue {

        /** Nice value of the queue's workers, -20..19. */
        private Integer nice;

        /** CPUs the queue's workers may run on, as hex ("f") or a list ("0-3,5"). */
        private String cpumask;

        /** How the queue's CPUs are split into pods: cpu, smt, cache, numa or system. */
        private AffinityScope affinityScope;

        /** Whether workers stay strictly inside their pod. */
        private Boolean affinityStrict;

        public Integer getNice() {
            return nice;
        }

        public void setNice(Integer nice) {
            this.nice = nice;
        }

        public String getCpumask() {
            return cpumask;
        }

        public void setCpumask(String cpumask) {
            this.cpumask = cpumask;
        }

        public AffinityScope getAffinityScope() {
            return affinityScope;
        }

        public void setAffinityScope(AffinityScope affinityScope) {
            this.affinityScope = affinityScope;
        }

        public Boolean getAffinityStrict() {
            return affinityStrict;
        }

        public void setAffinityStrict(Boolean affinityStrict) {
            this.affinityStrict = affinityStrict;
        }

        boolean hasAttrs() {
            return nice != null || cpumask != null || affinityScope != null || affinityStrict != null;
        }
    }

    /** One of the application's workqueues. */
    public static class Queue extends UnboundSystemQueue {

        /** The workqueue's name; defaults to the map key. */
        private String name;

        /**
         * The queue's flags: unbound, freezable, mem-reclaim, highpri, cpu-intensive, sysfs,
         * power-efficient.
         */
        private Set<WqFlag> flags = EnumSet.noneOf(WqFlag.class);

        /** An ordered queue (alloc_ordered_workqueue): unbound, one item at a time, in queueing order. */
        private boolean ordered;

        public String getName() {
            return name;
        }

        public void setName(String name) {
            this.name = name;
        }

        public Set<WqFlag> getFlags() {
            return flags;
        }

        public void setFlags(Set<WqFlag> flags) {
            this.flags = flags;
        }

        public boolean isOrdered() {
            return ordered;
        }

        public void setOrdered(boolean ordered) {
            this.ordered = ordered;
        }
    }

    /** Making one workqueue the application's task executor. */
    public static class TaskExecutor {

        /**
         * Name of the workqueue whose executor view becomes the applicationTaskExecutor bean (used
         * by @Async, Spring MVC async requests and others). Unset leaves Spring Boot's executor in
         * place.
         */
        private String queue;

        public String getQueue() {
            return queue;
        }

        public void setQueue(String queue) {
            this.queue = queue;
        }
    }
}
