//! The Kubernetes objects the simulated control plane serves, built with k8s-openapi's
//! types so their JSON is exactly what an API server sends. Their shape mirrors
//! `k8s-testbed/manifests/flash-sale.yaml` (the `flash-order` Deployment and HPA); a test
//! cross-checks the two.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerSpec,
    HorizontalPodAutoscalerStatus, MetricSpec, MetricStatus, MetricTarget, MetricValueStatus,
    ResourceMetricSource, ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

use crate::kube::hpa::{self, Behavior, Limit, PolicyKind, Select};

/// The workload the simulation runs: seed 003's flash-order service.
pub const DEPLOYMENT: &str = "flash-order";
pub const HPA: &str = "flash-order";
pub const APP_LABEL: (&str, &str) = ("app", "flash-order");
/// Seed 003: Flash Order 5–20 replicas.
pub const MIN_REPLICAS: u32 = 5;
pub const MAX_REPLICAS: u32 = 20;
/// Seed 002: CPU 65 %, memory 75 %.
pub const CPU_TARGET: i32 = 65;
pub const MEMORY_TARGET: i32 = 75;

/// flash-order's PodDisruptionBudget (`k8s-testbed/manifests/flash-sale.yaml`, a test
/// compares them): at most one pod disrupted by evictions at a time.
pub const PDB_MAX_UNAVAILABLE: u32 = 1;

pub fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([(APP_LABEL.0.to_string(), APP_LABEL.1.to_string())])
}

fn meta(name: &str, ns: &str, uid: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        uid: Some(uid),
        creation_timestamp: Some(Time(Timestamp::now())),
        generation: Some(1),
        ..ObjectMeta::default()
    }
}

/// The manifest's `behavior`, which is also the controller the simulation runs.
pub fn behavior() -> Behavior {
    Behavior::default()
}

fn rules(r: &hpa::Rules) -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: Some(r.stabilization.as_secs() as i32),
        select_policy: Some(
            match r.select {
                Select::Max => "Max",
                Select::Min => "Min",
                Select::Disabled => "Disabled",
            }
            .into(),
        ),
        policies: Some(
            r.policies
                .iter()
                .map(|p| HPAScalingPolicy {
                    type_: match p.kind {
                        PolicyKind::Pods => "Pods",
                        PolicyKind::Percent => "Percent",
                    }
                    .into(),
                    value: p.value as i32,
                    period_seconds: p.period.as_secs() as i32,
                })
                .collect(),
        ),
        ..HPAScalingRules::default()
    }
}

pub fn hpa(ns: &str) -> HorizontalPodAutoscaler {
    let resource = |name: &str, pct: i32| MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: name.into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(pct),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    };
    let b = behavior();
    HorizontalPodAutoscaler {
        metadata: meta(HPA, ns, "hpa-flash-order".into()),
        spec: HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: DEPLOYMENT.into(),
            },
            min_replicas: Some(MIN_REPLICAS as i32),
            max_replicas: MAX_REPLICAS as i32,
            metrics: Some(vec![
                resource("cpu", CPU_TARGET),
                resource("memory", MEMORY_TARGET),
            ]),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_up: Some(rules(&b.up)),
                scale_down: Some(rules(&b.down)),
            }),
        },
        status: Some(HorizontalPodAutoscalerStatus {
            current_replicas: Some(MIN_REPLICAS as i32),
            desired_replicas: MIN_REPLICAS as i32,
            ..HorizontalPodAutoscalerStatus::default()
        }),
    }
}

fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
) -> HorizontalPodAutoscalerCondition {
    HorizontalPodAutoscalerCondition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(Time(Timestamp::now())),
        observed_generation: None,
    }
}

/// The HPA's status after a sync, as the controller writes it.
pub fn hpa_status(
    current: u32,
    decision: hpa::Decision,
    observed: [f64; 2],
    last_scale: Option<Timestamp>,
) -> HorizontalPodAutoscalerStatus {
    let metric = |name: &str, pct: f64| MetricStatus {
        type_: "Resource".into(),
        resource: Some(ResourceMetricStatus {
            name: name.into(),
            current: MetricValueStatus {
                average_utilization: Some(pct.round() as i32),
                ..MetricValueStatus::default()
            },
        }),
        ..MetricStatus::default()
    };
    let limited = match decision.limited {
        Some(Limit::TooMany) => condition(
            "ScalingLimited",
            true,
            "TooManyReplicas",
            "the desired replica count is more than the maximum replica count".into(),
        ),
        Some(Limit::TooFew) => condition(
            "ScalingLimited",
            true,
            "TooFewReplicas",
            "the desired replica count is less than the minimum replica count".into(),
        ),
        Some(Limit::ScaleUpLimit) => condition(
            "ScalingLimited",
            true,
            "ScaleUpLimit",
            "the desired replica count is increasing faster than the maximum scale rate".into(),
        ),
        Some(Limit::ScaleDownLimit) => condition(
            "ScalingLimited",
            true,
            "ScaleDownLimit",
            "the desired replica count is decreasing faster than the maximum scale rate".into(),
        ),
        None => condition(
            "ScalingLimited",
            false,
            "DesiredWithinRange",
            "the desired count is within the acceptable range".into(),
        ),
    };
    HorizontalPodAutoscalerStatus {
        current_replicas: Some(current as i32),
        desired_replicas: decision.desired as i32,
        last_scale_time: last_scale.map(Time),
        current_metrics: Some(vec![
            metric("cpu", observed[0]),
            metric("memory", observed[1]),
        ]),
        conditions: Some(vec![
            condition(
                "AbleToScale",
                true,
                "ReadyForNewScale",
                "recommended size matches current size".into(),
            ),
            if decision.active {
                condition(
                    "ScalingActive",
                    true,
                    "ValidMetricFound",
                    "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)".into(),
                )
            } else if current == 0 {
                condition(
                    "ScalingActive",
                    false,
                    "ScalingDisabled",
                    "scaling is disabled since the replica count of the target is zero".into(),
                )
            } else {
                condition(
                    "ScalingActive",
                    false,
                    "FailedGetResourceMetric",
                    "the HPA was unable to compute the replica count: did not receive metrics for targeted pods (pods might be unready)".into(),
                )
            },
            limited,
        ]),
        observed_generation: Some(1),
    }
}

pub fn deployment(ns: &str, replicas: u32) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            labels: Some(labels()),
            ..meta(DEPLOYMENT, ns, "deploy-flash-order".into())
        },
        spec: DeploymentSpec {
            replicas: Some(replicas as i32),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec::default(),
            ..DeploymentSpec::default()
        },
        status: Some(DeploymentStatus::default()),
    }
}

/// The Deployment's status: `replicas` live pods, `ready` of them Ready, `updated` of the
/// current template, `generation` observed.
pub fn deployment_status(
    replicas: u32,
    ready: u32,
    updated: u32,
    generation: i64,
) -> DeploymentStatus {
    DeploymentStatus {
        observed_generation: Some(generation),
        replicas: Some(replicas as i32),
        updated_replicas: Some(updated as i32),
        ready_replicas: Some(ready as i32),
        available_replicas: Some(ready as i32),
        unavailable_replicas: Some(replicas.saturating_sub(ready) as i32),
        ..DeploymentStatus::default()
    }
}

pub fn pod(ns: &str, name: &str, uid: String) -> Pod {
    Pod {
        metadata: ObjectMeta {
            labels: Some(labels()),
            generate_name: Some(format!("{DEPLOYMENT}-")),
            ..meta(name, ns, uid)
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: DEPLOYMENT.into(),
                image: Some("loadctl:dev".into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(pod_status(false)),
    }
}

pub fn pod_status(ready: bool) -> PodStatus {
    let flag = if ready { "True" } else { "False" };
    PodStatus {
        phase: Some(if ready { "Running" } else { "Pending" }.into()),
        conditions: Some(vec![PodCondition {
            type_: "Ready".into(),
            status: flag.into(),
            last_transition_time: Some(Time(Timestamp::now())),
            ..PodCondition::default()
        }]),
        container_statuses: Some(vec![ContainerStatus {
            name: DEPLOYMENT.into(),
            image: "loadctl:dev".into(),
            image_id: String::new(),
            ready,
            restart_count: 0,
            started: Some(ready),
            ..ContainerStatus::default()
        }]),
        ..PodStatus::default()
    }
}

/// Marks a pod terminating: not ready, with its deletion time and grace period.
pub fn terminating(pod: &mut Pod, grace: Duration) {
    pod.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
    pod.metadata.deletion_grace_period_seconds = Some(grace.as_secs() as i64);
    pod.status = Some(PodStatus {
        phase: Some("Running".into()),
        ..pod_status(false)
    });
}
