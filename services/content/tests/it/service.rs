//! The gRPC service itself: health and reflection.

use super::*;

#[tokio::test]
async fn health_and_reflection_v1_and_v1alpha_list_the_service() {
    let mut h = Harness::start().await;
    let url = format!("http://{}", h.bound);
    let channel = loop_platform::grpc::channel(&url).expect("channel");

    use tonic_reflection::pb::v1 as r1;
    use tonic_reflection::pb::v1alpha as r1a;
    let mut v1 = r1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = r1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut stream = v1
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("v1")
        .into_inner();
    let response = stream.message().await.expect("message").expect("response");
    let Some(r1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("unexpected v1 reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&loop_content::SERVICE_NAME.to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
    // Only what this port serves: no other Loop service.
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("grpc.") || n == loop_content::SERVICE_NAME),
        "{names:?}"
    );

    let mut v1a = r1a::server_reflection_client::ServerReflectionClient::new(channel);
    let request = r1a::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            r1a::server_reflection_request::MessageRequest::FileContainingSymbol(
                loop_content::SERVICE_NAME.into(),
            ),
        ),
    };
    let mut stream = v1a
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("v1alpha")
        .into_inner();
    let response = stream.message().await.expect("message").expect("response");
    assert!(
        matches!(response.message_response, Some(r1a::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "v1alpha returns the file describing the service"
    );
    h.stop().await;
}
