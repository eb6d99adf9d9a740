from bench.peers.settings import SYSTEM

urlpatterns = SYSTEM.urls()
