//! The Redis implementation of the shared state, across two "replicas".

use crate::helpers::{eventually, redis_url};
use std::time::Duration;
use switchyard::state::{Invalidation, RedisState, SharedState};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_counters_and_see_each_others_invalidations() {
    let prefix = format!("sytest-{}", Uuid::now_v7().simple());
    let a = RedisState::connect(&redis_url(), &prefix)
        .await
        .expect("redis is running");
    let b = RedisState::connect(&redis_url(), &prefix).await.unwrap();
    let mut b_messages = b.subscribe();
    // Each replica subscribes in the background; a message published before b's subscription reaches Redis
    // would never arrive.
    let channel = format!("{prefix}:invalidate");
    let redis = redis::Client::open(redis_url()).unwrap();
    let connection = redis.get_multiplexed_async_connection().await.unwrap();
    eventually("both replicas subscribe", || {
        let mut connection = connection.clone();
        let channel = channel.clone();
        async move {
            let (_, subscribers): (String, u64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut connection)
                .await
                .unwrap();
            if subscribers == 2 {
                Ok(())
            } else {
                Err(format!("{subscribers} subscribers of {channel}"))
            }
        }
    })
    .await;

    let window = Duration::from_secs(3600);
    let first = a.incr_window("rpm:key-1", 1, window).await.unwrap();
    let second = b.incr_window("rpm:key-1", 1, window).await.unwrap();
    let third = a.incr_window("rpm:key-1", 5, window).await.unwrap();
    a.publish(&Invalidation::ApiKey {
        key_hash: "abc".into(),
    })
    .await
    .unwrap();

    assert_eq!((first, second, third), (1, 2, 7));
    let received = tokio::time::timeout(Duration::from_secs(2), b_messages.recv())
        .await
        .expect("message in time")
        .unwrap();
    assert_eq!(
        received,
        Invalidation::ApiKey {
            key_hash: "abc".into()
        }
    );
    assert_eq!(b.kind(), "redis");
}
