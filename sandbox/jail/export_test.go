package jail

// RelayLogEvery is relayLogEvery, for tests that bound a log flood.
const RelayLogEvery = relayLogEvery
