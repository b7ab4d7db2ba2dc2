package dev.cmwq.workqueue.actuate;

import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.spring.WorkqueueAutoConfiguration;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.actuate.autoconfigure.endpoint.condition.ConditionalOnAvailableEndpoint;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The engine's actuator parts: the {@code workqueues} endpoint, the {@code workqueues} health
 * contributor (with stall events), and the meters.
 */
@AutoConfiguration(after = WorkqueueAutoConfiguration.class)
@ConditionalOnBean(Workqueues.class)
public class WorkqueueActuatorAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnAvailableEndpoint
    public WorkqueuesEndpoint workqueuesEndpoint(Workqueues workqueues, ObjectProvider<WorkqueueMetrics> metrics) {
        return new WorkqueuesEndpoint(workqueues, () -> metrics.ifAvailable(WorkqueueMetrics::resync));
    }

    /** Stall events and the stall count, whether or not the health contributor is on. */
    @Bean
    @ConditionalOnMissingBean
    public WorkqueueStallTracker workqueueStallTracker(Workqueues workqueues, ApplicationEventPublisher events) {
        return new WorkqueueStallTracker(workqueues, events);
    }

    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnEnabledHealthIndicator("workqueues")
    public WorkqueuesHealthIndicator workqueuesHealthIndicator(WorkqueueStallTracker tracker) {
        return new WorkqueuesHealthIndicator(tracker);
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(MeterRegistry.class)
    static class MetricsConfiguration {

        @Bean
        @ConditionalOnMissingBean
        WorkqueueMetrics workqueueMetrics(Workqueues workqueues, WorkqueueStallTracker tracker) {
            return new WorkqueueMetrics(workqueues, tracker);
        }
    }
}
