package dev.cmwq.sample;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/**
 * A small web service whose background work runs on cmwq: slow downstream calls on a bound queue,
 * an ordered audit log, an absorbed cache refresh, a debounced re-index, a MEM_RECLAIM writeback
 * queue tunable through the actuator, and the 2010 perf-wq workloads on demand. A live page at
 * {@code /} shows what {@code wq_monitor.py} shows.
 */
@SpringBootApplication
@ConfigurationPropertiesScan
public class SampleApplication {

    public static void main(String[] args) {
        SpringApplication.run(SampleApplication.class, args);
    }
}
