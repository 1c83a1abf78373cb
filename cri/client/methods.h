/* Every unary CRI v1 method as an X-macro:
 *   X(service, Method, lower_name, RequestType, ResponseType)
 * Kept in step with cri/api/api.proto (test_cri_rpc checks that every
 * unary method of the proto is listed). GetContainerEvents is the one
 * server-streaming method and is not listed. */
#pragma once

#define CRI_UNARY_METHODS(X)                                                                       \
	X(RuntimeService, Version, version, VersionRequest, VersionResponse)                       \
	X(RuntimeService, RunPodSandbox, run_pod_sandbox, RunPodSandboxRequest,                    \
	  RunPodSandboxResponse)                                                                   \
	X(RuntimeService, StopPodSandbox, stop_pod_sandbox, StopPodSandboxRequest,                 \
	  StopPodSandboxResponse)                                                                  \
	X(RuntimeService, RemovePodSandbox, remove_pod_sandbox, RemovePodSandboxRequest,           \
	  RemovePodSandboxResponse)                                                                \
	X(RuntimeService, PodSandboxStatus, pod_sandbox_status, PodSandboxStatusRequest,           \
	  PodSandboxStatusResponse)                                                                \
	X(RuntimeService, ListPodSandbox, list_pod_sandbox, ListPodSandboxRequest,                 \
	  ListPodSandboxResponse)                                                                  \
	X(RuntimeService, CreateContainer, create_container, CreateContainerRequest,               \
	  CreateContainerResponse)                                                                 \
	X(RuntimeService, StartContainer, start_container, StartContainerRequest,                  \
	  StartContainerResponse)                                                                  \
	X(RuntimeService, StopContainer, stop_container, StopContainerRequest,                     \
	  StopContainerResponse)                                                                   \
	X(RuntimeService, RemoveContainer, remove_container, RemoveContainerRequest,               \
	  RemoveContainerResponse)                                                                 \
	X(RuntimeService, ListContainers, list_containers, ListContainersRequest,                  \
	  ListContainersResponse)                                                                  \
	X(RuntimeService, ContainerStatus, container_status, ContainerStatusRequest,               \
	  ContainerStatusResponse)                                                                 \
	X(RuntimeService, UpdateContainerResources, update_container_resources,                    \
	  UpdateContainerResourcesRequest, UpdateContainerResourcesResponse)                       \
	X(RuntimeService, ReopenContainerLog, reopen_container_log, ReopenContainerLogRequest,     \
	  ReopenContainerLogResponse)                                                              \
	X(RuntimeService, ExecSync, exec_sync, ExecSyncRequest, ExecSyncResponse)                  \
	X(RuntimeService, Exec, exec, ExecRequest, ExecResponse)                                   \
	X(RuntimeService, Attach, attach, AttachRequest, AttachResponse)                           \
	X(RuntimeService, PortForward, port_forward, PortForwardRequest, PortForwardResponse)      \
	X(RuntimeService, ContainerStats, container_stats, ContainerStatsRequest,                  \
	  ContainerStatsResponse)                                                                  \
	X(RuntimeService, ListContainerStats, list_container_stats, ListContainerStatsRequest,     \
	  ListContainerStatsResponse)                                                              \
	X(RuntimeService, PodSandboxStats, pod_sandbox_stats, PodSandboxStatsRequest,              \
	  PodSandboxStatsResponse)                                                                 \
	X(RuntimeService, ListPodSandboxStats, list_pod_sandbox_stats, ListPodSandboxStatsRequest, \
	  ListPodSandboxStatsResponse)                                                             \
	X(RuntimeService, UpdateRuntimeConfig, update_runtime_config, UpdateRuntimeConfigRequest,  \
	  UpdateRuntimeConfigResponse)                                                             \
	X(RuntimeService, Status, status, StatusRequest, StatusResponse)                           \
	X(RuntimeService, CheckpointContainer, checkpoint_container, CheckpointContainerRequest,   \
	  CheckpointContainerResponse)                                                             \
	X(RuntimeService, ListMetricDescriptors, list_metric_descriptors,                          \
	  ListMetricDescriptorsRequest, ListMetricDescriptorsResponse)                             \
	X(RuntimeService, ListPodSandboxMetrics, list_pod_sandbox_metrics,                         \
	  ListPodSandboxMetricsRequest, ListPodSandboxMetricsResponse)                             \
	X(RuntimeService, RuntimeConfig, runtime_config, RuntimeConfigRequest,                     \
	  RuntimeConfigResponse)                                                                   \
	X(ImageService, ListImages, list_images, ListImagesRequest, ListImagesResponse)            \
	X(ImageService, ImageStatus, image_status, ImageStatusRequest, ImageStatusResponse)        \
	X(ImageService, PullImage, pull_image, PullImageRequest, PullImageResponse)                \
	X(ImageService, RemoveImage, remove_image, RemoveImageRequest, RemoveImageResponse)        \
	X(ImageService, ImageFsInfo, image_fs_info, ImageFsInfoRequest, ImageFsInfoResponse)
