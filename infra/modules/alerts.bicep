// What tells an operator the service stopped acting on clusters (docs/deploy.md, "Alerts", says what each one means
// and what to do). The log alerts read the structured records the service writes (shared/pipeline/outcome_record.py:
// customDimensions.record_type argoboot.run / argoboot.sweep); tests/e2e/test_operations.py checks every field they
// name against records a test run produced. Event Grid's dead letters: cluster-events.bicep, beside its topic.
param location string
param tags object
param namePrefix string
@description('Resource id of the Application Insights component the app writes to.')
param applicationInsightsId string
@description('Resource id of the Service Bus namespace holding the request queue.')
param serviceBusNamespaceId string
param installQueueName string
param workQueueName string
@description('Resource id of an existing action group to notify (e-mail, Teams, a pager). Empty: alertEmail\'s, or none.')
param actionGroupId string = ''
@description('An e-mail address: without actionGroupId, an action group that mails it is created here. Both empty: alerts fire in the portal only.')
param alertEmail string = ''
@minValue(1)
@description('Failed runs in an hour that raise the alert (a run: one reconcile of one cluster).')
param failedRunsPerHourThreshold int = 5
@minValue(5)
@maxValue(1440)
@description('Minutes between sweeps (SWEEP_SCHEDULE); the alert fires when no sweep succeeded in twice that.')
param sweepIntervalMinutes int = 30

// An action group for the e-mail address, unless an existing group is given. api-version: Microsoft.Insights/
// actionGroups 2023-01-01, the newest stable one (/work/shared/reference/azure-contract/api-versions.md).
resource emailGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (empty(actionGroupId) && !empty(alertEmail)) {
  name: '${namePrefix}-notify'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'argoboot'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var notify = !empty(actionGroupId) ? actionGroupId : (empty(alertEmail) ? '' : emailGroup.id)

// A log alert's window is one of the durations Azure Monitor offers (5 min to 2 days): the smallest at least twice
// the sweep interval, and never shorter than the 15-minute evaluation frequency.
var wanted = 2 * sweepIntervalMinutes
var sweepWindow = wanted <= 15 ? 'PT15M' : wanted <= 30 ? 'PT30M' : wanted <= 45 ? 'PT45M' : wanted <= 60 ? 'PT1H' : wanted <= 120 ? 'PT2H' : wanted <= 180 ? 'PT3H' : wanted <= 240 ? 'PT4H' : wanted <= 300 ? 'PT5H' : wanted <= 360 ? 'PT6H' : wanted <= 1440 ? 'P1D' : 'P2D'

var actions = empty(notify) ? [] : [
  {
    actionGroupId: notify
  }
]

// Requests the service refused, and messages whose processing kept failing (10 deliveries), end in the dead-letter
// queue: each one is a cluster or a sender nobody answered as they hoped.
resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-request-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Messages in the dead-letter queues of ${installQueueName} and ${workQueueName}. docs/deploy.md: Reading the dead-letter queue.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'deadLettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                installQueueName
                workQueueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: actions
  }
}

var logAlerts = [
  {
    name: 'failed-runs'
    severity: 2
    description: 'More than ${failedRunsPerHourThreshold} runs failed in the last hour. The workbook lists the error codes and clusters; docs/deploy.md: Alerts.'
    query: 'traces | where customDimensions.record_type == "argoboot.run" and customDimensions.outcome == "failed"'
    frequency: 'PT15M'
    window: 'PT1H'
    operator: 'GreaterThan'
    threshold: failedRunsPerHourThreshold
  }
  {
    name: 'app-failures'
    severity: 1
    description: 'Function invocations failed (the ledger or Service Bus unreachable, a crash): messages are redelivered, then dead-lettered. docs/deploy.md: Alerts.'
    query: 'requests | where success == false'
    frequency: 'PT5M'
    window: 'PT15M'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'no-sweep'
    severity: 1
    description: 'No sweep succeeded in ${sweepWindow} (at least twice the ${sweepIntervalMinutes}-minute sweep interval): missed events are no longer caught up. docs/deploy.md: Alerts.'
    query: 'traces | where customDimensions.record_type == "argoboot.sweep" and customDimensions.outcome == "succeeded"'
    frequency: 'PT15M'
    window: sweepWindow
    operator: 'LessThan'
    threshold: 1
  }
]

// api-version: Microsoft.Insights/scheduledQueryRules 2023-12-01, the stable one before 2026-03-01 with this shape
// (/work/shared/reference/azure-contract/api-versions.md; azure-rest-api-specs monitor stable/2023-12-01).
resource logAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in logAlerts: {
    name: '${namePrefix}-${alert.name}'
    location: location
    tags: tags
    properties: {
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [
        applicationInsightsId
      ]
      evaluationFrequency: alert.frequency
      windowSize: alert.window
      autoMitigate: true
      // A new component has no rows yet; the query is checked by the tests instead.
      skipQueryValidation: true
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Count'
            operator: alert.operator
            threshold: alert.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: empty(notify) ? [] : [
          notify
        ]
      }
    }
  }
]

output actionGroupId string = notify
