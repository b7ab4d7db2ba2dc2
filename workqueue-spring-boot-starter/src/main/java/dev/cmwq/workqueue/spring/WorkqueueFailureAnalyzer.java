package dev.cmwq.workqueue.spring;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** The start-up report for {@link InvalidWorkqueueConfigurationException}. */
class WorkqueueFailureAnalyzer extends AbstractFailureAnalyzer<InvalidWorkqueueConfigurationException> {

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, InvalidWorkqueueConfigurationException cause) {
        boolean method = !cause.getProperty().startsWith("workqueue.");
        String description = (method ? "Invalid @WorkItem declaration:\n\n    Method: " : "Invalid workqueue configuration:\n\n    Property: ")
                + cause.getProperty() + "\n    Value: \"" + cause.getValue() + "\"\n    Reason: " + cause.getReason() + "\n";
        String action = (method ? "Fix the @WorkItem declaration. " : "Update your application's configuration. ")
                + "Allowed: " + cause.getAllowed();
        return new FailureAnalysis(description, action, cause);
    }
}
