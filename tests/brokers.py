from inbox.events.base import Broker


class FailingBroker(Broker):
    def publish(self, events):
        raise ConnectionError("broker down")
