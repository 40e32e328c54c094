//! The embedded MQTT broker (rumqttd) that `riverwatch up` runs on 127.0.0.1.
