//! riverwatch-simulators: Station models, pollution scenarios, fault injection and replay of recorded data.
