from app.models import User
from app.views import label

assert label(User("Ada L", "ada@x.org")) == "Ada L <ada@x.org>"
