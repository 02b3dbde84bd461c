import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import wrappers_pb2 as _wrappers_pb2
from nakama_rt.wire.proto import api_pb2 as _api_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("cid", "channel", "channel_join", "channel_leave", "channel_message", "channel_message_ack", "channel_message_send", "channel_message_update", "channel_message_remove", "channel_presence_event", "error", "match", "match_create", "match_data", "match_data_send", "match_join", "match_leave", "match_presence_event", "matchmaker_add", "matchmaker_matched", "matchmaker_remove", "matchmaker_ticket", "notifications", "rpc", "status", "status_follow", "status_presence_event", "status_unfollow", "status_update", "stream_data", "stream_presence_event", "ping", "pong", "party", "party_create", "party_join", "party_leave", "party_promote", "party_leader", "party_accept", "party_remove", "party_close", "party_join_request_list", "party_join_request", "party_matchmaker_add", "party_matchmaker_remove", "party_matchmaker_ticket", "party_data", "party_data_send", "party_presence_event", "party_update")
    CID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_JOIN_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_LEAVE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_MESSAGE_ACK_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_MESSAGE_SEND_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_MESSAGE_UPDATE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_MESSAGE_REMOVE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_PRESENCE_EVENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    MATCH_CREATE_FIELD_NUMBER: _ClassVar[int]
    MATCH_DATA_FIELD_NUMBER: _ClassVar[int]
    MATCH_DATA_SEND_FIELD_NUMBER: _ClassVar[int]
    MATCH_JOIN_FIELD_NUMBER: _ClassVar[int]
    MATCH_LEAVE_FIELD_NUMBER: _ClassVar[int]
    MATCH_PRESENCE_EVENT_FIELD_NUMBER: _ClassVar[int]
    MATCHMAKER_ADD_FIELD_NUMBER: _ClassVar[int]
    MATCHMAKER_MATCHED_FIELD_NUMBER: _ClassVar[int]
    MATCHMAKER_REMOVE_FIELD_NUMBER: _ClassVar[int]
    MATCHMAKER_TICKET_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    RPC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FOLLOW_FIELD_NUMBER: _ClassVar[int]
    STATUS_PRESENCE_EVENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_UNFOLLOW_FIELD_NUMBER: _ClassVar[int]
    STATUS_UPDATE_FIELD_NUMBER: _ClassVar[int]
    STREAM_DATA_FIELD_NUMBER: _ClassVar[int]
    STREAM_PRESENCE_EVENT_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    PARTY_FIELD_NUMBER: _ClassVar[int]
    PARTY_CREATE_FIELD_NUMBER: _ClassVar[int]
    PARTY_JOIN_FIELD_NUMBER: _ClassVar[int]
    PARTY_LEAVE_FIELD_NUMBER: _ClassVar[int]
    PARTY_PROMOTE_FIELD_NUMBER: _ClassVar[int]
    PARTY_LEADER_FIELD_NUMBER: _ClassVar[int]
    PARTY_ACCEPT_FIELD_NUMBER: _ClassVar[int]
    PARTY_REMOVE_FIELD_NUMBER: _ClassVar[int]
    PARTY_CLOSE_FIELD_NUMBER: _ClassVar[int]
    PARTY_JOIN_REQUEST_LIST_FIELD_NUMBER: _ClassVar[int]
    PARTY_JOIN_REQUEST_FIELD_NUMBER: _ClassVar[int]
    PARTY_MATCHMAKER_ADD_FIELD_NUMBER: _ClassVar[int]
    PARTY_MATCHMAKER_REMOVE_FIELD_NUMBER: _ClassVar[int]
    PARTY_MATCHMAKER_TICKET_FIELD_NUMBER: _ClassVar[int]
    PARTY_DATA_FIELD_NUMBER: _ClassVar[int]
    PARTY_DATA_SEND_FIELD_NUMBER: _ClassVar[int]
    PARTY_PRESENCE_EVENT_FIELD_NUMBER: _ClassVar[int]
    PARTY_UPDATE_FIELD_NUMBER: _ClassVar[int]
    cid: str
    channel: Channel
    channel_join: ChannelJoin
    channel_leave: ChannelLeave
    channel_message: _api_pb2.ChannelMessage
    channel_message_ack: ChannelMessageAck
    channel_message_send: ChannelMessageSend
    channel_message_update: ChannelMessageUpdate
    channel_message_remove: ChannelMessageRemove
    channel_presence_event: ChannelPresenceEvent
    error: Error
    match: Match
    match_create: MatchCreate
    match_data: MatchData
    match_data_send: MatchDataSend
    match_join: MatchJoin
    match_leave: MatchLeave
    match_presence_event: MatchPresenceEvent
    matchmaker_add: MatchmakerAdd
    matchmaker_matched: MatchmakerMatched
    matchmaker_remove: MatchmakerRemove
    matchmaker_ticket: MatchmakerTicket
    notifications: Notifications
    rpc: _api_pb2.Rpc
    status: Status
    status_follow: StatusFollow
    status_presence_event: StatusPresenceEvent
    status_unfollow: StatusUnfollow
    status_update: StatusUpdate
    stream_data: StreamData
    stream_presence_event: StreamPresenceEvent
    ping: Ping
    pong: Pong
    party: Party
    party_create: PartyCreate
    party_join: PartyJoin
    party_leave: PartyLeave
    party_promote: PartyPromote
    party_leader: PartyLeader
    party_accept: PartyAccept
    party_remove: PartyRemove
    party_close: PartyClose
    party_join_request_list: PartyJoinRequestList
    party_join_request: PartyJoinRequest
    party_matchmaker_add: PartyMatchmakerAdd
    party_matchmaker_remove: PartyMatchmakerRemove
    party_matchmaker_ticket: PartyMatchmakerTicket
    party_data: PartyData
    party_data_send: PartyDataSend
    party_presence_event: PartyPresenceEvent
    party_update: PartyUpdate
    def __init__(self, cid: _Optional[str] = ..., channel: _Optional[_Union[Channel, _Mapping]] = ..., channel_join: _Optional[_Union[ChannelJoin, _Mapping]] = ..., channel_leave: _Optional[_Union[ChannelLeave, _Mapping]] = ..., channel_message: _Optional[_Union[_api_pb2.ChannelMessage, _Mapping]] = ..., channel_message_ack: _Optional[_Union[ChannelMessageAck, _Mapping]] = ..., channel_message_send: _Optional[_Union[ChannelMessageSend, _Mapping]] = ..., channel_message_update: _Optional[_Union[ChannelMessageUpdate, _Mapping]] = ..., channel_message_remove: _Optional[_Union[ChannelMessageRemove, _Mapping]] = ..., channel_presence_event: _Optional[_Union[ChannelPresenceEvent, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., match: _Optional[_Union[Match, _Mapping]] = ..., match_create: _Optional[_Union[MatchCreate, _Mapping]] = ..., match_data: _Optional[_Union[MatchData, _Mapping]] = ..., match_data_send: _Optional[_Union[MatchDataSend, _Mapping]] = ..., match_join: _Optional[_Union[MatchJoin, _Mapping]] = ..., match_leave: _Optional[_Union[MatchLeave, _Mapping]] = ..., match_presence_event: _Optional[_Union[MatchPresenceEvent, _Mapping]] = ..., matchmaker_add: _Optional[_Union[MatchmakerAdd, _Mapping]] = ..., matchmaker_matched: _Optional[_Union[MatchmakerMatched, _Mapping]] = ..., matchmaker_remove: _Optional[_Union[MatchmakerRemove, _Mapping]] = ..., matchmaker_ticket: _Optional[_Union[MatchmakerTicket, _Mapping]] = ..., notifications: _Optional[_Union[Notifications, _Mapping]] = ..., rpc: _Optional[_Union[_api_pb2.Rpc, _Mapping]] = ..., status: _Optional[_Union[Status, _Mapping]] = ..., status_follow: _Optional[_Union[StatusFollow, _Mapping]] = ..., status_presence_event: _Optional[_Union[StatusPresenceEvent, _Mapping]] = ..., status_unfollow: _Optional[_Union[StatusUnfollow, _Mapping]] = ..., status_update: _Optional[_Union[StatusUpdate, _Mapping]] = ..., stream_data: _Optional[_Union[StreamData, _Mapping]] = ..., stream_presence_event: _Optional[_Union[StreamPresenceEvent, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ..., pong: _Optional[_Union[Pong, _Mapping]] = ..., party: _Optional[_Union[Party, _Mapping]] = ..., party_create: _Optional[_Union[PartyCreate, _Mapping]] = ..., party_join: _Optional[_Union[PartyJoin, _Mapping]] = ..., party_leave: _Optional[_Union[PartyLeave, _Mapping]] = ..., party_promote: _Optional[_Union[PartyPromote, _Mapping]] = ..., party_leader: _Optional[_Union[PartyLeader, _Mapping]] = ..., party_accept: _Optional[_Union[PartyAccept, _Mapping]] = ..., party_remove: _Optional[_Union[PartyRemove, _Mapping]] = ..., party_close: _Optional[_Union[PartyClose, _Mapping]] = ..., party_join_request_list: _Optional[_Union[PartyJoinRequestList, _Mapping]] = ..., party_join_request: _Optional[_Union[PartyJoinRequest, _Mapping]] = ..., party_matchmaker_add: _Optional[_Union[PartyMatchmakerAdd, _Mapping]] = ..., party_matchmaker_remove: _Optional[_Union[PartyMatchmakerRemove, _Mapping]] = ..., party_matchmaker_ticket: _Optional[_Union[PartyMatchmakerTicket, _Mapping]] = ..., party_data: _Optional[_Union[PartyData, _Mapping]] = ..., party_data_send: _Optional[_Union[PartyDataSend, _Mapping]] = ..., party_presence_event: _Optional[_Union[PartyPresenceEvent, _Mapping]] = ..., party_update: _Optional[_Union[PartyUpdate, _Mapping]] = ...) -> None: ...

class Channel(_message.Message):
    __slots__ = ("id", "presences", "self", "room_name", "group_id", "user_id_one", "user_id_two")
    ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCES_FIELD_NUMBER: _ClassVar[int]
    SELF_FIELD_NUMBER: _ClassVar[int]
    ROOM_NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_ONE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_TWO_FIELD_NUMBER: _ClassVar[int]
    id: str
    presences: _containers.RepeatedCompositeFieldContainer[UserPresence]
    self: UserPresence
    room_name: str
    group_id: str
    user_id_one: str
    user_id_two: str
    def __init__(self_, id: _Optional[str] = ..., presences: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., self: _Optional[_Union[UserPresence, _Mapping]] = ..., room_name: _Optional[str] = ..., group_id: _Optional[str] = ..., user_id_one: _Optional[str] = ..., user_id_two: _Optional[str] = ...) -> None: ...

class ChannelJoin(_message.Message):
    __slots__ = ("target", "type", "persistence", "hidden")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[ChannelJoin.Type]
        ROOM: _ClassVar[ChannelJoin.Type]
        DIRECT_MESSAGE: _ClassVar[ChannelJoin.Type]
        GROUP: _ClassVar[ChannelJoin.Type]
    TYPE_UNSPECIFIED: ChannelJoin.Type
    ROOM: ChannelJoin.Type
    DIRECT_MESSAGE: ChannelJoin.Type
    GROUP: ChannelJoin.Type
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PERSISTENCE_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    target: str
    type: int
    persistence: _wrappers_pb2.BoolValue
    hidden: _wrappers_pb2.BoolValue
    def __init__(self, target: _Optional[str] = ..., type: _Optional[int] = ..., persistence: _Optional[_Union[_wrappers_pb2.BoolValue, _Mapping]] = ..., hidden: _Optional[_Union[_wrappers_pb2.BoolValue, _Mapping]] = ...) -> None: ...

class ChannelLeave(_message.Message):
    __slots__ = ("channel_id",)
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    def __init__(self, channel_id: _Optional[str] = ...) -> None: ...

class ChannelMessageAck(_message.Message):
    __slots__ = ("channel_id", "message_id", "code", "username", "create_time", "update_time", "persistent", "room_name", "group_id", "user_id_one", "user_id_two")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PERSISTENT_FIELD_NUMBER: _ClassVar[int]
    ROOM_NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_ONE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_TWO_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    message_id: str
    code: _wrappers_pb2.Int32Value
    username: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    persistent: _wrappers_pb2.BoolValue
    room_name: str
    group_id: str
    user_id_one: str
    user_id_two: str
    def __init__(self, channel_id: _Optional[str] = ..., message_id: _Optional[str] = ..., code: _Optional[_Union[_wrappers_pb2.Int32Value, _Mapping]] = ..., username: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., persistent: _Optional[_Union[_wrappers_pb2.BoolValue, _Mapping]] = ..., room_name: _Optional[str] = ..., group_id: _Optional[str] = ..., user_id_one: _Optional[str] = ..., user_id_two: _Optional[str] = ...) -> None: ...

class ChannelMessageSend(_message.Message):
    __slots__ = ("channel_id", "content")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    content: str
    def __init__(self, channel_id: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class ChannelMessageUpdate(_message.Message):
    __slots__ = ("channel_id", "message_id", "content")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    message_id: str
    content: str
    def __init__(self, channel_id: _Optional[str] = ..., message_id: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class ChannelMessageRemove(_message.Message):
    __slots__ = ("channel_id", "message_id")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    message_id: str
    def __init__(self, channel_id: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class ChannelPresenceEvent(_message.Message):
    __slots__ = ("channel_id", "joins", "leaves", "room_name", "group_id", "user_id_one", "user_id_two")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    JOINS_FIELD_NUMBER: _ClassVar[int]
    LEAVES_FIELD_NUMBER: _ClassVar[int]
    ROOM_NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_ONE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_TWO_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    joins: _containers.RepeatedCompositeFieldContainer[UserPresence]
    leaves: _containers.RepeatedCompositeFieldContainer[UserPresence]
    room_name: str
    group_id: str
    user_id_one: str
    user_id_two: str
    def __init__(self, channel_id: _Optional[str] = ..., joins: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., leaves: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., room_name: _Optional[str] = ..., group_id: _Optional[str] = ..., user_id_one: _Optional[str] = ..., user_id_two: _Optional[str] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "context")
    class Code(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RUNTIME_EXCEPTION: _ClassVar[Error.Code]
        UNRECOGNIZED_PAYLOAD: _ClassVar[Error.Code]
        MISSING_PAYLOAD: _ClassVar[Error.Code]
        BAD_INPUT: _ClassVar[Error.Code]
        MATCH_NOT_FOUND: _ClassVar[Error.Code]
        MATCH_JOIN_REJECTED: _ClassVar[Error.Code]
        RUNTIME_FUNCTION_NOT_FOUND: _ClassVar[Error.Code]
        RUNTIME_FUNCTION_EXCEPTION: _ClassVar[Error.Code]
    RUNTIME_EXCEPTION: Error.Code
    UNRECOGNIZED_PAYLOAD: Error.Code
    MISSING_PAYLOAD: Error.Code
    BAD_INPUT: Error.Code
    MATCH_NOT_FOUND: Error.Code
    MATCH_JOIN_REJECTED: Error.Code
    RUNTIME_FUNCTION_NOT_FOUND: Error.Code
    RUNTIME_FUNCTION_EXCEPTION: Error.Code
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    context: _containers.ScalarMap[str, str]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("match_id", "authoritative", "label", "size", "presences", "self")
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHORITATIVE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    PRESENCES_FIELD_NUMBER: _ClassVar[int]
    SELF_FIELD_NUMBER: _ClassVar[int]
    match_id: str
    authoritative: bool
    label: _wrappers_pb2.StringValue
    size: int
    presences: _containers.RepeatedCompositeFieldContainer[UserPresence]
    self: UserPresence
    def __init__(self_, match_id: _Optional[str] = ..., authoritative: _Optional[bool] = ..., label: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., size: _Optional[int] = ..., presences: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., self: _Optional[_Union[UserPresence, _Mapping]] = ...) -> None: ...

class MatchCreate(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class MatchData(_message.Message):
    __slots__ = ("match_id", "presence", "op_code", "data", "reliable")
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    OP_CODE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    RELIABLE_FIELD_NUMBER: _ClassVar[int]
    match_id: str
    presence: UserPresence
    op_code: int
    data: bytes
    reliable: bool
    def __init__(self, match_id: _Optional[str] = ..., presence: _Optional[_Union[UserPresence, _Mapping]] = ..., op_code: _Optional[int] = ..., data: _Optional[bytes] = ..., reliable: _Optional[bool] = ...) -> None: ...

class MatchDataSend(_message.Message):
    __slots__ = ("match_id", "op_code", "data", "presences", "reliable")
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    OP_CODE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    PRESENCES_FIELD_NUMBER: _ClassVar[int]
    RELIABLE_FIELD_NUMBER: _ClassVar[int]
    match_id: str
    op_code: int
    data: bytes
    presences: _containers.RepeatedCompositeFieldContainer[UserPresence]
    reliable: bool
    def __init__(self, match_id: _Optional[str] = ..., op_code: _Optional[int] = ..., data: _Optional[bytes] = ..., presences: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., reliable: _Optional[bool] = ...) -> None: ...

class MatchJoin(_message.Message):
    __slots__ = ("match_id", "token", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    match_id: str
    token: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, match_id: _Optional[str] = ..., token: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class MatchLeave(_message.Message):
    __slots__ = ("match_id",)
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    match_id: str
    def __init__(self, match_id: _Optional[str] = ...) -> None: ...

class MatchPresenceEvent(_message.Message):
    __slots__ = ("match_id", "joins", "leaves")
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    JOINS_FIELD_NUMBER: _ClassVar[int]
    LEAVES_FIELD_NUMBER: _ClassVar[int]
    match_id: str
    joins: _containers.RepeatedCompositeFieldContainer[UserPresence]
    leaves: _containers.RepeatedCompositeFieldContainer[UserPresence]
    def __init__(self, match_id: _Optional[str] = ..., joins: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., leaves: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ...) -> None: ...

class MatchmakerAdd(_message.Message):
    __slots__ = ("min_count", "max_count", "query", "string_properties", "numeric_properties", "count_multiple")
    class StringPropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class NumericPropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    MIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_COUNT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    STRING_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    COUNT_MULTIPLE_FIELD_NUMBER: _ClassVar[int]
    min_count: int
    max_count: int
    query: str
    string_properties: _containers.ScalarMap[str, str]
    numeric_properties: _containers.ScalarMap[str, float]
    count_multiple: _wrappers_pb2.Int32Value
    def __init__(self, min_count: _Optional[int] = ..., max_count: _Optional[int] = ..., query: _Optional[str] = ..., string_properties: _Optional[_Mapping[str, str]] = ..., numeric_properties: _Optional[_Mapping[str, float]] = ..., count_multiple: _Optional[_Union[_wrappers_pb2.Int32Value, _Mapping]] = ...) -> None: ...

class MatchmakerMatched(_message.Message):
    __slots__ = ("ticket", "match_id", "token", "users", "self")
    class MatchmakerUser(_message.Message):
        __slots__ = ("presence", "party_id", "string_properties", "numeric_properties")
        class StringPropertiesEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        class NumericPropertiesEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: float
            def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
        PRESENCE_FIELD_NUMBER: _ClassVar[int]
        PARTY_ID_FIELD_NUMBER: _ClassVar[int]
        STRING_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
        NUMERIC_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
        presence: UserPresence
        party_id: str
        string_properties: _containers.ScalarMap[str, str]
        numeric_properties: _containers.ScalarMap[str, float]
        def __init__(self, presence: _Optional[_Union[UserPresence, _Mapping]] = ..., party_id: _Optional[str] = ..., string_properties: _Optional[_Mapping[str, str]] = ..., numeric_properties: _Optional[_Mapping[str, float]] = ...) -> None: ...
    TICKET_FIELD_NUMBER: _ClassVar[int]
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    SELF_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    match_id: str
    token: str
    users: _containers.RepeatedCompositeFieldContainer[MatchmakerMatched.MatchmakerUser]
    self: MatchmakerMatched.MatchmakerUser
    def __init__(self_, ticket: _Optional[str] = ..., match_id: _Optional[str] = ..., token: _Optional[str] = ..., users: _Optional[_Iterable[_Union[MatchmakerMatched.MatchmakerUser, _Mapping]]] = ..., self: _Optional[_Union[MatchmakerMatched.MatchmakerUser, _Mapping]] = ...) -> None: ...

class MatchmakerRemove(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    def __init__(self, ticket: _Optional[str] = ...) -> None: ...

class MatchmakerTicket(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    def __init__(self, ticket: _Optional[str] = ...) -> None: ...

class Notifications(_message.Message):
    __slots__ = ("notifications",)
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    notifications: _containers.RepeatedCompositeFieldContainer[_api_pb2.Notification]
    def __init__(self, notifications: _Optional[_Iterable[_Union[_api_pb2.Notification, _Mapping]]] = ...) -> None: ...

class Party(_message.Message):
    __slots__ = ("party_id", "open", "hidden", "max_size", "self", "leader", "presences", "label")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    SELF_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    PRESENCES_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    open: bool
    hidden: bool
    max_size: int
    self: UserPresence
    leader: UserPresence
    presences: _containers.RepeatedCompositeFieldContainer[UserPresence]
    label: str
    def __init__(self_, party_id: _Optional[str] = ..., open: _Optional[bool] = ..., hidden: _Optional[bool] = ..., max_size: _Optional[int] = ..., self: _Optional[_Union[UserPresence, _Mapping]] = ..., leader: _Optional[_Union[UserPresence, _Mapping]] = ..., presences: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., label: _Optional[str] = ...) -> None: ...

class PartyCreate(_message.Message):
    __slots__ = ("open", "max_size", "label", "hidden")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    open: bool
    max_size: int
    label: str
    hidden: bool
    def __init__(self, open: _Optional[bool] = ..., max_size: _Optional[int] = ..., label: _Optional[str] = ..., hidden: _Optional[bool] = ...) -> None: ...

class PartyUpdate(_message.Message):
    __slots__ = ("party_id", "label", "open", "hidden")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    label: str
    open: bool
    hidden: bool
    def __init__(self, party_id: _Optional[str] = ..., label: _Optional[str] = ..., open: _Optional[bool] = ..., hidden: _Optional[bool] = ...) -> None: ...

class PartyJoin(_message.Message):
    __slots__ = ("party_id",)
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    def __init__(self, party_id: _Optional[str] = ...) -> None: ...

class PartyLeave(_message.Message):
    __slots__ = ("party_id",)
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    def __init__(self, party_id: _Optional[str] = ...) -> None: ...

class PartyPromote(_message.Message):
    __slots__ = ("party_id", "presence")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    presence: UserPresence
    def __init__(self, party_id: _Optional[str] = ..., presence: _Optional[_Union[UserPresence, _Mapping]] = ...) -> None: ...

class PartyLeader(_message.Message):
    __slots__ = ("party_id", "presence")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    presence: UserPresence
    def __init__(self, party_id: _Optional[str] = ..., presence: _Optional[_Union[UserPresence, _Mapping]] = ...) -> None: ...

class PartyAccept(_message.Message):
    __slots__ = ("party_id", "presence")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    presence: UserPresence
    def __init__(self, party_id: _Optional[str] = ..., presence: _Optional[_Union[UserPresence, _Mapping]] = ...) -> None: ...

class PartyRemove(_message.Message):
    __slots__ = ("party_id", "presence")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    presence: UserPresence
    def __init__(self, party_id: _Optional[str] = ..., presence: _Optional[_Union[UserPresence, _Mapping]] = ...) -> None: ...

class PartyClose(_message.Message):
    __slots__ = ("party_id",)
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    def __init__(self, party_id: _Optional[str] = ...) -> None: ...

class PartyJoinRequestList(_message.Message):
    __slots__ = ("party_id",)
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    def __init__(self, party_id: _Optional[str] = ...) -> None: ...

class PartyJoinRequest(_message.Message):
    __slots__ = ("party_id", "presences")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCES_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    presences: _containers.RepeatedCompositeFieldContainer[UserPresence]
    def __init__(self, party_id: _Optional[str] = ..., presences: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ...) -> None: ...

class PartyMatchmakerAdd(_message.Message):
    __slots__ = ("party_id", "min_count", "max_count", "query", "string_properties", "numeric_properties", "count_multiple")
    class StringPropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class NumericPropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_COUNT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    STRING_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    COUNT_MULTIPLE_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    min_count: int
    max_count: int
    query: str
    string_properties: _containers.ScalarMap[str, str]
    numeric_properties: _containers.ScalarMap[str, float]
    count_multiple: _wrappers_pb2.Int32Value
    def __init__(self, party_id: _Optional[str] = ..., min_count: _Optional[int] = ..., max_count: _Optional[int] = ..., query: _Optional[str] = ..., string_properties: _Optional[_Mapping[str, str]] = ..., numeric_properties: _Optional[_Mapping[str, float]] = ..., count_multiple: _Optional[_Union[_wrappers_pb2.Int32Value, _Mapping]] = ...) -> None: ...

class PartyMatchmakerRemove(_message.Message):
    __slots__ = ("party_id", "ticket")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    ticket: str
    def __init__(self, party_id: _Optional[str] = ..., ticket: _Optional[str] = ...) -> None: ...

class PartyMatchmakerTicket(_message.Message):
    __slots__ = ("party_id", "ticket")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    ticket: str
    def __init__(self, party_id: _Optional[str] = ..., ticket: _Optional[str] = ...) -> None: ...

class PartyData(_message.Message):
    __slots__ = ("party_id", "presence", "op_code", "data")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    OP_CODE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    presence: UserPresence
    op_code: int
    data: bytes
    def __init__(self, party_id: _Optional[str] = ..., presence: _Optional[_Union[UserPresence, _Mapping]] = ..., op_code: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class PartyDataSend(_message.Message):
    __slots__ = ("party_id", "op_code", "data")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    OP_CODE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    op_code: int
    data: bytes
    def __init__(self, party_id: _Optional[str] = ..., op_code: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class PartyPresenceEvent(_message.Message):
    __slots__ = ("party_id", "joins", "leaves")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    JOINS_FIELD_NUMBER: _ClassVar[int]
    LEAVES_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    joins: _containers.RepeatedCompositeFieldContainer[UserPresence]
    leaves: _containers.RepeatedCompositeFieldContainer[UserPresence]
    def __init__(self, party_id: _Optional[str] = ..., joins: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., leaves: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Pong(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Status(_message.Message):
    __slots__ = ("presences",)
    PRESENCES_FIELD_NUMBER: _ClassVar[int]
    presences: _containers.RepeatedCompositeFieldContainer[UserPresence]
    def __init__(self, presences: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ...) -> None: ...

class StatusFollow(_message.Message):
    __slots__ = ("user_ids", "usernames")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    USERNAMES_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    usernames: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ..., usernames: _Optional[_Iterable[str]] = ...) -> None: ...

class StatusPresenceEvent(_message.Message):
    __slots__ = ("joins", "leaves")
    JOINS_FIELD_NUMBER: _ClassVar[int]
    LEAVES_FIELD_NUMBER: _ClassVar[int]
    joins: _containers.RepeatedCompositeFieldContainer[UserPresence]
    leaves: _containers.RepeatedCompositeFieldContainer[UserPresence]
    def __init__(self, joins: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., leaves: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ...) -> None: ...

class StatusUnfollow(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class StatusUpdate(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: _wrappers_pb2.StringValue
    def __init__(self, status: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ...) -> None: ...

class Stream(_message.Message):
    __slots__ = ("mode", "subject", "subcontext", "label")
    MODE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SUBCONTEXT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    mode: int
    subject: str
    subcontext: str
    label: str
    def __init__(self, mode: _Optional[int] = ..., subject: _Optional[str] = ..., subcontext: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class StreamData(_message.Message):
    __slots__ = ("stream", "sender", "data", "reliable")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    RELIABLE_FIELD_NUMBER: _ClassVar[int]
    stream: Stream
    sender: UserPresence
    data: str
    reliable: bool
    def __init__(self, stream: _Optional[_Union[Stream, _Mapping]] = ..., sender: _Optional[_Union[UserPresence, _Mapping]] = ..., data: _Optional[str] = ..., reliable: _Optional[bool] = ...) -> None: ...

class StreamPresenceEvent(_message.Message):
    __slots__ = ("stream", "joins", "leaves")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    JOINS_FIELD_NUMBER: _ClassVar[int]
    LEAVES_FIELD_NUMBER: _ClassVar[int]
    stream: Stream
    joins: _containers.RepeatedCompositeFieldContainer[UserPresence]
    leaves: _containers.RepeatedCompositeFieldContainer[UserPresence]
    def __init__(self, stream: _Optional[_Union[Stream, _Mapping]] = ..., joins: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ..., leaves: _Optional[_Iterable[_Union[UserPresence, _Mapping]]] = ...) -> None: ...

class UserPresence(_message.Message):
    __slots__ = ("user_id", "session_id", "username", "persistence", "status")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PERSISTENCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    session_id: str
    username: str
    persistence: bool
    status: _wrappers_pb2.StringValue
    def __init__(self, user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., username: _Optional[str] = ..., persistence: _Optional[bool] = ..., status: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ...) -> None: ...
