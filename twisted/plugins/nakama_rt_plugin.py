from twisted.application.service import ServiceMaker

nakama_rt = ServiceMaker(
    "nakama-rt",
    "nakama_rt.tap",
    "A realtime game server that speaks Nakama's socket protocol.",
    "nakama-rt",
)
