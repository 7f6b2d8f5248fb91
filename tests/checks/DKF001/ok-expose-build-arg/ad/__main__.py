print("ad")
